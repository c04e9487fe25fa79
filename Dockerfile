# One image for web, worker, beat and release (docker-compose.yml, Procfile).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY requirements/base.txt requirements/base.txt
RUN pip install --require-hashes -r requirements/base.txt

COPY . .

# collectstatic imports settings, which insist on production secrets; these build-time values are
# thrown away with the layer and never used at run time.
RUN SECRET_KEY=collectstatic-only \
    ENCRYPTION_KEYS=build:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    python manage.py collectstatic --noinput

RUN useradd --create-home --uid 10001 calsync && mkdir -p /app/var/audit-archive && chown -R calsync /app/var
USER calsync

EXPOSE 8000
CMD ["gunicorn", "calsync.wsgi"]
