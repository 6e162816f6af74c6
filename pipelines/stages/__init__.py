"""Batch pipeline stages (NeMo Curator style): plain-dict rows in, rows out, resources declared per stage.

`base` holds the abstraction (no Ray), `inputs` the corpus listing and the probe stage. `pipelines.ray_adapter`
is the only module that turns stages into Ray Data operators.
"""

from pipelines.stages.base import (
    ERROR_FIELDS,
    Pipeline,
    Resources,
    Stage,
    error_row,
    is_error,
    process_batch,
    run_items,
)

__all__ = ["ERROR_FIELDS", "Pipeline", "Resources", "Stage", "error_row", "is_error", "process_batch", "run_items"]
