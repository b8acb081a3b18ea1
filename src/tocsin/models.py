"""Import every domain's models so that Base.metadata is complete (Alembic, tests)."""

from tocsin.alerts import models as alerts_models
from tocsin.audit import models as audit_models
from tocsin.auth import models as auth_models
from tocsin.catalog import models as catalog_models
from tocsin.chat import models as chat_models
from tocsin.comms import models as comms_models
from tocsin.db import Base
from tocsin.definitions import models as definitions_models
from tocsin.escalation import models as escalation_models
from tocsin.incidents import models as incidents_models
from tocsin.jobs import models as jobs_models
from tocsin.notify import models as notify_models
from tocsin.plan import models as plan_models
from tocsin.postmortems import models as postmortems_models
from tocsin.roster import models as roster_models
from tocsin.runbooks import models as runbooks_models
from tocsin.schedules import models as schedules_models
from tocsin.statuspages import models as statuspages_models
from tocsin.subscribers import models as subscribers_models
from tocsin.trackers import models as trackers_models
from tocsin.webhooks import models as webhooks_models
from tocsin.workflows import models as workflows_models

__all__ = [
    "Base",
    "alerts_models",
    "audit_models",
    "auth_models",
    "catalog_models",
    "chat_models",
    "comms_models",
    "definitions_models",
    "escalation_models",
    "incidents_models",
    "jobs_models",
    "runbooks_models",
    "schedules_models",
    "notify_models",
    "plan_models",
    "postmortems_models",
    "roster_models",
    "statuspages_models",
    "subscribers_models",
    "trackers_models",
    "webhooks_models",
    "workflows_models",
]
