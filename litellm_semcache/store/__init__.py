"""Document stores (the source of truth) and the deployment kinds that wrap them."""

from litellm_semcache.store.base import DocumentStore, ScanItem, Stored, Unreadable
from litellm_semcache.store.deployment import (
    Deployment,
    LocalDeployment,
    SharedDeployment,
    open_deployment,
    open_store,
)
from litellm_semcache.store.document import Document

__all__ = ["Deployment", "Document", "DocumentStore", "LocalDeployment", "ScanItem",
           "SharedDeployment", "Stored", "Unreadable", "open_deployment", "open_store"]
