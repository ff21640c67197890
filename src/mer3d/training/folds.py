"""Which folds a run has and which of them an invocation trains: the protocol's folds of a dataset,
``--folds`` names checked against them (``final`` is the all-subject model), and the folds that have
no result yet (a run trained in shards writes its report once none is missing)."""
from __future__ import annotations

from ..errors import UserError
from .classical import MODEL_NAME as CLASSICAL
from .protocols import Fold, make_folds
from .run_dir import FINAL_FOLD, RunDir


def protocol_folds(config: dict, subjects: list[str], parts) -> list[Fold]:
    return make_folds(config["protocol"], subjects, config["seed"], config["train"]["val_fraction"], parts)


def has_final_model(config: dict) -> bool:
    """Whether the run trains a final model on all subjects (an SVM has no weights format for predict)."""
    return bool(config["train"]["final_model"]) and config["model"]["name"] != CLASSICAL


def select_folds(names: list[str] | None, folds: list[Fold], config: dict) -> set[str] | None:
    """The fold names ``--folds`` picks (None: every fold and the final model); a name that is not
    one of the protocol's folds (or ``final`` where the run has a final model) is a one-line error
    listing the valid ones."""
    if names is None:
        return None
    valid = [fold.name for fold in folds] + ([FINAL_FOLD] if has_final_model(config) else [])
    unknown = [name for name in names if name not in valid] or ([] if names else [""])
    if unknown:
        hint = (f" ({FINAL_FOLD} only with train.final_model=true and a model with weights)"
                if FINAL_FOLD in unknown else "")
        raise UserError(f"--folds: no fold '{unknown[0]}' in this run's {config['protocol']['name']} protocol; "
                        f"valid: {', '.join(valid)}{hint}")
    return set(names)


def missing_folds(run: RunDir, folds: list[Fold], results: dict | None = None) -> list[str]:
    """The folds of ``folds`` with no result yet (neither in ``results`` nor in the run folder)."""
    return [f.name for f in folds if f.name not in (results or {}) and not run.fold_result(f.name).is_file()]
