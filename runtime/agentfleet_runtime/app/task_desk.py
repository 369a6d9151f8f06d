"""The task desk: applies /task commands, whichever form they came in, and answers them.

A command that changes a task is announced by SPECTRA in command_center, naming every
channel it touched. Everything else — the list, help for a malformed command, a refusal —
goes only to the person who asked: as the slash command's ephemeral reply, or as a reply in
the channel where the command was typed. Either way the person gets an answer.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from agentfleet_runtime.brain.messages import InboundMessage, JobKind, PersonaJob
from agentfleet_runtime.brain.tasks import (
    NOT_ALLOWED,
    TaskAction,
    TaskCommand,
    TaskCommandError,
    TaskRequest,
    build_task_command,
    confirmation,
    may_command_tasks,
    parse_task_command,
    plan_update,
    task_list,
)
from agentfleet_runtime.contract import CHANNELS
from agentfleet_runtime.memory.state import FleetState

log = logging.getLogger(__name__)

CONFIRMER = "spectra"

OUTSIDE_CHANNELS = (
    "/task はフリートのチャンネル（" + ", ".join(f"#{name}" for name in CHANNELS) + "）で使ってね。"
)


@dataclass(frozen=True, slots=True)
class TaskAnswer:
    """What answering one command produced."""

    reply: str
    """For the person who asked."""
    announcement: str | None = None
    """For everyone, in command_center: set when a task changed."""


class TaskDesk:
    """Applies task commands and produces the posts that answer them."""

    def __init__(
        self, state: FleetState, channel_ids: dict[str, int], task_role_id: int | None = None
    ) -> None:
        self.state = state
        self.channel_ids = channel_ids
        self.task_role_id = task_role_id

    async def answer(
        self, parse: Callable[[], TaskCommand], by: str, role_ids: tuple[int, ...]
    ) -> TaskAnswer:
        """Check the person may, parse with ``parse``, and apply the command."""
        if not may_command_tasks(role_ids, self.task_role_id):
            return TaskAnswer(NOT_ALLOWED)
        try:
            command = parse()
            if command.action is TaskAction.LIST:
                return TaskAnswer(task_list(await self.state.tasks()))
            now = time.time()
            update = await self.state.update_tasks(
                lambda tasks: plan_update(command, tasks, now, by)
            )
        except TaskCommandError as error:
            return TaskAnswer(str(error))
        log.info("task %s by %s: %s → %s", command.action, by, update.ended, update.start)
        announcement = confirmation(update, by)
        return TaskAnswer(f"✅ {announcement}", announcement)

    async def jobs_for_typed(self, message: InboundMessage) -> list[PersonaJob]:
        """Answer a typed ``/task`` message: an announcement, or a reply where it was typed."""
        answer = await self.answer(
            lambda: parse_task_command(message.content),
            message.author_name,
            message.author_role_ids,
        )
        if answer.announcement is not None:
            return [self._announcement(f"task:{message.message_id}", answer.announcement)]
        channel = next(
            (n for n, cid in self.channel_ids.items() if cid == message.channel_id), "other"
        )
        return [
            PersonaJob(
                job_id=f"task-reply:{message.message_id}",
                kind=JobKind.ANNOUNCE,
                persona=CONFIRMER,
                channel=channel,
                channel_id=message.channel_id,
                enqueued_at=time.time(),
                message=message,
                text=answer.reply,
            )
        ]

    async def slash(self, request: TaskRequest) -> tuple[str, list[PersonaJob]]:
        """Answer the slash command: the ephemeral reply, and SPECTRA's announcement job."""
        if request.channel_id not in self.channel_ids.values():
            return OUTSIDE_CHANNELS, []
        answer = await self.answer(
            lambda: build_task_command(request.action, request.channel, request.text),
            request.by,
            request.role_ids,
        )
        if answer.announcement is None:
            return answer.reply, []
        return answer.reply, [self._announcement(f"task:{uuid.uuid4().hex}", answer.announcement)]

    def _announcement(self, job_id: str, text: str) -> PersonaJob:
        return PersonaJob(
            job_id=job_id,
            kind=JobKind.ANNOUNCE,
            persona=CONFIRMER,
            channel="command_center",
            channel_id=self.channel_ids["command_center"],
            enqueued_at=time.time(),
            text=text,
        )
