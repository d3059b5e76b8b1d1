# Doorstep service image (the NLU server uses the official rasa/rasa image; see docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md babel.cfg ./
COPY requirements/service.lock ./requirements/
RUN pip install --require-hashes --no-deps -r requirements/service.lock
COPY bot ./bot
COPY integrations ./integrations
COPY routing_adapter ./routing_adapter
COPY templates ./templates
RUN pip install --no-deps . && useradd --system --uid 10001 doorstep
USER doorstep
ENV HOST=0.0.0.0 PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/readyz').status != 200)"
CMD ["doorstep", "serve"]
