"""Configuration as code: `tocsin apply -f FILE.yaml` and `tocsin export`."""

from tocsin.configfile.alerting import NewKey
from tocsin.configfile.engine import ConfigError, apply_file, export_yaml, plan_document

__all__ = ["ConfigError", "NewKey", "apply_file", "export_yaml", "plan_document"]
