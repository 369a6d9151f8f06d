"""Names the operator shares with the CRD, the chart and the cluster.

Kept in one module so that a rename is one edit: the group, our annotations, the field
manager of server-side apply, and the fixed label set.
"""

from __future__ import annotations

from typing import Final

GROUP: Final = "agentfleet.dev"
VERSION: Final = "v1alpha1"
KIND: Final = "AgentFleet"
PLURAL: Final = "agentfleets"
API_VERSION: Final = f"{GROUP}/{VERSION}"

#: The one field manager of every server-side apply, so ownership of fields is never split
#: between "our" managers and a second apply could not silently keep a stale field.
FIELD_MANAGER: Final = "agentfleet-operator"

SPEC_HASH_ANNOTATION: Final = f"{GROUP}/spec-hash"
CONFIG_HASH_ANNOTATION: Final = f"{GROUP}/config-hash"

LABEL_NAME: Final = "app.kubernetes.io/name"
LABEL_INSTANCE: Final = "app.kubernetes.io/instance"
LABEL_COMPONENT: Final = "app.kubernetes.io/component"
LABEL_PART_OF: Final = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
APP_NAME: Final = "agentfleet"
MANAGED_BY: Final = "agentfleet-operator"
