"""Every size limit, once: Settings (app/config.py) takes its defaults from here, the spec
model its hard caps, and README's "Sizes" paragraph quotes these numbers (a test checks it)."""

MAX_REQUEST_BYTES = 16 << 20  # a JSON request body
MAX_UPLOAD_BYTES = 4 << 30  # one dataset upload
MAX_LINE_BYTES = 2 << 20  # one JSONL line of an upload
MAX_PROMPTS = 100_000  # base prompts in one spec
MAX_WORK_ITEMS = 1_000_000  # samples one audit may plan: what one worker holds
MAX_PROMPT_CHARS = 32_000  # one rendered prompt (system + user), after every template
MAX_NESTING = 64  # levels of nesting in a JSON or YAML document we read
MAX_INT_DIGITS = 30  # digits of an integer in a spec file (Python refuses >4300 with a traceback)
MAX_YAML_VALUES = 500_000  # values a YAML file may expand to through aliases
