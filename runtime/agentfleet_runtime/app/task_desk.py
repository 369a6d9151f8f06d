"""The task desk: applies /task commands, whichever form they came in, and answers them.

A valid command updates the channel's task and SPECTRA confirms it in command_center; a
malformed one gets the parser's helpful explanation as a reply in the channel it was typed
in. Either way the person gets an answer.
"""

from __future__ import annotations

import logging
import time
import uuid

from agentfleet_runtime.brain.messages import InboundMessage, JobKind, PersonaJob
from agentfleet_runtime.brain.tasks import (
    TaskAction,
    TaskCommand,
    TaskCommandError,
    build_task_command,
    parse_task_command,
)
from agentfleet_runtime.memory.state import FleetState

log = logging.getLogger(__name__)

CONFIRMER = "spectra"


def confirmation(command: TaskCommand, by: str) -> str:
    """SPECTRA's confirmation of a task command."""
    verb = "開始" if command.action is TaskAction.COMMIT else "変更"
    return (
        f"📌 #{command.channel} のタスクを{verb}したよ：「{command.text}」（{by}）。"
        "みんなで進めよう！"
    )


class TaskDesk:
    """Applies task commands and produces the posts that answer them."""

    def __init__(self, state: FleetState, channel_ids: dict[str, int]) -> None:
        self.state = state
        self.channel_ids = channel_ids

    async def apply(self, command: TaskCommand, by: str) -> str:
        """Store the task and return the confirmation text."""
        await self.state.set_task(command, by)
        log.info("task %s in #%s: %s (by %s)", command.action, command.channel, command.text, by)
        return confirmation(command, by)

    async def jobs_for_typed(self, message: InboundMessage) -> list[PersonaJob]:
        """Answer a typed ``/task`` message: a confirmation, or help where it was typed."""
        now = time.time()
        try:
            command = parse_task_command(message.content)
        except TaskCommandError as error:
            channel = next(
                (n for n, cid in self.channel_ids.items() if cid == message.channel_id), "other"
            )
            return [
                PersonaJob(
                    job_id=f"task-help:{message.message_id}",
                    kind=JobKind.ANNOUNCE,
                    persona=CONFIRMER,
                    channel=channel,
                    channel_id=message.channel_id,
                    enqueued_at=now,
                    message=message,
                    text=str(error),
                )
            ]
        text = await self.apply(command, message.author_name)
        return [
            PersonaJob(
                job_id=f"task:{message.message_id}",
                kind=JobKind.ANNOUNCE,
                persona=CONFIRMER,
                channel="command_center",
                channel_id=self.channel_ids["command_center"],
                enqueued_at=now,
                text=text,
            )
        ]

    async def slash(
        self, action: str, channel: str, text: str, by: str
    ) -> tuple[str, list[PersonaJob]]:
        """Answer the slash command: the ephemeral reply, and SPECTRA's confirmation job."""
        try:
            command = build_task_command(action, channel, text)
        except TaskCommandError as error:
            return str(error), []
        confirmation_text = await self.apply(command, by)
        job = PersonaJob(
            job_id=f"task:{uuid.uuid4().hex}",
            kind=JobKind.ANNOUNCE,
            persona=CONFIRMER,
            channel="command_center",
            channel_id=self.channel_ids["command_center"],
            enqueued_at=time.time(),
            text=confirmation_text,
        )
        return f"✅ #{command.channel} のタスクを「{command.text}」にしたよ。", [job]
