"""The last stage: workers write their batch's rows as Parquet files into the lake's tables, uncommitted.

Each batch of finished clips becomes one file per table (clips, sequences, transcripts); the stage returns one
small receipt row per batch with the files' Delta add actions. The driver commits all receipts of a run in one
transaction per table (`pipelines.preprocess.commit_run`), so a reader never sees half a run, and a task that
Ray retries (a killed worker) leaves only unreferenced files behind: its first attempt's receipt never reached
the driver. Clip ids the lake already holds (`skip_ids`: a run that crashed between two table commits and is
now being finished) are left out, so each clip is written exactly once.
"""

from __future__ import annotations

import json

from pipelines.lake import Lake, action_to_dict
from pipelines.stages.base import Resources, Stage
from pipelines.tables import clips_table, sequences_table, transcripts_table

__all__ = ["WriteStage", "RECEIPT"]

RECEIPT = "receipt"  # the `kind` of a receipt row


class WriteStage(Stage):
    """finished clip rows -> one receipt row {"kind": "receipt", "actions": {table: [add action]}, "clips":
    [{id, video_id, seconds, frames}]} per batch. Error rows pass through (they are committed by the driver)."""

    name = "write"
    resources = Resources(cpus=1, batch_size=16)

    def __init__(self, lake_uri: str, storage_options: dict | None, run_id: str, fps: float, sample_rate: int,
                 skip_ids: frozenset[str] = frozenset(), resources: Resources | None = None):
        self.lake_uri, self.storage_options = lake_uri, storage_options
        self.run_id, self.fps, self.sample_rate = run_id, fps, sample_rate
        self.skip_ids = frozenset(skip_ids)
        super().__init__(resources)

    def process(self, rows: list[dict]) -> list[dict]:
        rows = [r for r in rows if r["id"] not in self.skip_ids]
        if not rows:
            return []
        lake = Lake(self.lake_uri, self.storage_options)
        tables = {
            "clips": clips_table(rows, self.run_id, self.sample_rate, self.fps),
            "sequences": sequences_table(rows, self.run_id, self.sample_rate / self.fps),
            "transcripts": transcripts_table(rows, self.run_id),
        }
        actions = {name: [action_to_dict(a) for a in lake.stage_files(name, table)] for name, table in tables.items()}
        clips = [
            {"id": r["id"], "video_id": r["video_id"], "seconds": r["num_frames"] / self.fps,
             "frames": r["num_frames"], "duration": r.get("duration")}
            for r in rows
        ]
        return [{"id": rows[0]["id"], "kind": RECEIPT, "actions": json.dumps(actions), "clips": json.dumps(clips)}]
