"""The config of ``physsim train``: the ``[data]``, ``[model]`` and ``[training]`` tables.

A run is described by a TOML file with three tables::

    [data]                      # which data + keyword arguments of the loader
    name = "seglearn_watch"     # physsim.data registry or a synthetic task, or instead
                                # ts_folder = "dir" (NAME_TRAIN.ts + NAME_TEST.ts) or
                                # npz = "file.npz" (x_train, y_train, x_test, y_test)
    max_length = 512

    [model]                     # HSSMConfig fields (n_inputs/n_outputs/task come from the data)
    hru = "linear"
    n_blocks = 2
    hidden = 32
    units = 32

    [training]                  # TrainingSettings fields
    lr = 1e-3
    batch_size = 16
    max_steps = 2000
    eval_every = 100
    checkpoint_every = 100
    patience = 10

Every table is checked strictly by :mod:`physsim.config.loader`: unknown tables, keys and
names are errors that list what is allowed, and a value of the wrong TOML type is an error
naming ``table.key`` (``complex = "false"`` is not a boolean).  ``[data]`` options are typed
by the annotations of the dataset's loader, ``[model]`` by the fields of
:class:`~physsim.hssm.model.HSSMConfig`.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import create_model

from ..config.device import PresetName
from ..config.loader import (ConfigError, NonNegativeInt, PositiveFloat, PositiveInt, Table,
                             check_tables, parse_toml, validate,
                             validate_all)
from .data_table import check_data_table
from .model import HSSMConfig

__all__ = ["MODEL_GIVEN_BY_DATA", "TOP_TABLES", "RunConfig", "TrainingSettings", "model_table"]

#: Tables of a training config.
TOP_TABLES = ("data", "model", "training")
#: HSSMConfig fields that the data fix (a ``[model]`` table may not set them).
MODEL_GIVEN_BY_DATA = ("n_inputs", "n_outputs", "task")


class TrainingSettings(Table):
    """Optimisation and bookkeeping settings (TOML ``[training]``).

    Attributes
    ----------
    lr : float, default 1e-3
        Adam learning rate (constant, as in the RHEL code), > 0.
    beta1, beta2, adam_eps : float
        Adam's decay rates and denominator offset (optax defaults).
    batch_size : int, default 32
        Training cases per step (each epoch drops its incomplete last batch).
    max_steps : int, default 1000
        Upper bound on optimisation steps.
    eval_every : int, default 100
        Steps between evaluations on the validation split.
    checkpoint_every : int, default 100
        Steps between checkpoints in the run file (0: only when the run stops).
    patience : int, default 10
        Stop once more than ``patience`` consecutive evaluations did not improve the
        validation metric (0 disables early stopping).  Equal accuracies count as an
        improvement when the validation loss is lower.
    eval_batch_size : int, default 64
        Cases per forward pass during evaluation.
    """

    lr: PositiveFloat = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    adam_eps: PositiveFloat = 1e-8
    batch_size: PositiveInt = 32
    max_steps: PositiveInt = 1000
    eval_every: PositiveInt = 100
    checkpoint_every: NonNegativeInt = 100
    patience: NonNegativeInt = 10
    eval_batch_size: PositiveInt = 64


@cache
def model_table() -> type[Table]:
    """Schema of ``[model]``: the fields of :class:`HSSMConfig` with their types and defaults,
    except those the data fix (:data:`MODEL_GIVEN_BY_DATA`); ``hardware`` must name a
    registered preset."""
    # the preset name is looked up in the registry when the file is read
    hints = {**typing.get_type_hints(HSSMConfig), "hardware": PresetName | None}
    fields = {f.name: (hints[f.name], f.default) for f in dataclasses.fields(HSSMConfig)
              if f.name not in MODEL_GIVEN_BY_DATA}
    return create_model("ModelTable", __base__=Table, **fields)


@dataclass(frozen=True)
class RunConfig:
    """A checked training configuration.

    Attributes
    ----------
    data : dict
        ``name``, ``ts_folder`` or ``npz`` (made an absolute path) and loader keyword
        arguments (checked against the loader's signature).
    model : dict
        The :class:`~physsim.hssm.model.HSSMConfig` fields the file sets (checked types).
    training : TrainingSettings
    text : str
        The TOML source (stored in run files).
    source : str
        Where the text came from (file name).
    """

    data: dict[str, Any]
    model: dict[str, Any]
    training: TrainingSettings
    text: str
    source: str = "<string>"

    @classmethod
    def from_tables(cls, tables: dict[str, Any], *, text: str, source: str = "<string>",
                    where: str = "", base_dir: Path | None = None) -> "RunConfig":
        """Check parsed TOML tables.

        Parameters
        ----------
        tables : dict
            ``data``, ``model`` and optionally ``training``.
        text : str
            The TOML source kept with the config.
        source : str
            Name of the source for messages.
        where : str
            Prefix of the table names in messages (``"hssm."`` for the tables of a sweep).
        base_dir : Path, optional
            Folder that relative ``[data] ts_folder``/``npz`` paths start from (the
            config file's folder; the working directory without it).

        Raises
        ------
        ConfigError
            For unknown or missing tables, unknown keys or names, or values of the wrong type.
        """
        try:
            check_tables(tables, TOP_TABLES, ("data", "model"), where.rstrip("."))
            data = tables["data"]
            checked = validate_all({
                "data": lambda: check_data_table(data, where=f"{where}data", base_dir=base_dir),
                "model": lambda: validate(model_table(), tables["model"], f"{where}model"),
                "training": lambda: validate(TrainingSettings, tables.get("training", {}),
                                             f"{where}training")})
        except ConfigError as exc:
            # a file names itself; tables inside another file ("hssm.") name their parent
            raise ConfigError(f"{source}: {exc}" if not where else str(exc)) from None
        return cls(data=checked["data"], model=checked["model"].given(),
                   training=checked["training"], text=text, source=source)

    @classmethod
    def from_text(cls, text: str, source: str = "<string>", base_dir: Path | None = None
                  ) -> "RunConfig":
        """Parse and check a TOML configuration (see :meth:`from_tables`)."""
        return cls.from_tables(parse_toml(text, source), text=text, source=source,
                               base_dir=base_dir)

    @classmethod
    def from_file(cls, path: str | Path) -> "RunConfig":
        """Read, parse and check a TOML file."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"config file {path} does not exist")
        return cls.from_text(path.read_text(), source=str(path), base_dir=path.parent)

    def to_json(self) -> str:
        """The parsed configuration as JSON (stored next to the TOML text)."""
        return json.dumps({"data": self.data, "model": self.model,
                           "training": self.training.model_dump()}, sort_keys=True)
