# One image for every role of a fleet: the operator picks the role by command
# (`agentfleet reception`, `agentfleet persona --persona lynq`, `agentfleet pipeline`,
# `agentfleet migrate`) and the operator itself runs `agentfleet-operator`.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY runtime ./runtime
COPY sandbox ./sandbox
COPY operator ./operator
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="agentfleet" \
      org.opencontainers.image.description="AgentFleet runtime and operator"
COPY --from=build /install /usr/local
# A fixed, unprivileged user so that runAsNonRoot can be verified by the kubelet.
RUN groupadd --system --gid 10001 agentfleet \
 && useradd --system --uid 10001 --gid agentfleet --no-create-home agentfleet
USER 10001:10001
# The root filesystem is read-only in a cluster: logs go to stdout, nothing is written
# outside /tmp (an emptyDir).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LOG_FILE="" \
    HOME=/tmp
EXPOSE 8000
CMD ["agentfleet", "reception"]
