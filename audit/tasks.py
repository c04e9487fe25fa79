import logging
from pathlib import Path

from django.conf import settings

from audit.archive import audit_logs_archive
from calsync.jobs import periodic_job

logger = logging.getLogger(__name__)


# Daily. Each batch commits on its own, so a run cut short by the time limit resumes at the next one.
@periodic_job("audit.archive_audit_logs", soft_time_limit=3600, time_limit=3660)
def archive_audit_logs() -> int:
    output_dir = Path(settings.AUDIT_ARCHIVE_DIR) if settings.AUDIT_ARCHIVE_DIR else None
    report = audit_logs_archive(days=settings.AUDIT_RETENTION_DAYS, output_dir=output_dir)
    if report.output_dir is None:
        logger.warning("AUDIT_ARCHIVE_DIR is not set: %d audit rows past retention kept.", report.rows_older)
    return report.rows_archived
