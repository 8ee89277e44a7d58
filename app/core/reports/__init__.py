"""Self-contained HTML reports: plots rendered by matplotlib to inline SVG, pages by Jinja2."""
