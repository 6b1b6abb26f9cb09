"""One sweep worker, started by the sweep tests as a process of its own: a probe sweep through the library.

``--stall FILE``: the first fit of this process writes FILE and then waits for ever, so that a
test can SIGKILL the worker in the middle of a trial it knows is RUNNING.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

from cornkit.clip.model import TINY_MODEL
from cornkit.data.dataset import load_dataset
from cornkit.data.split import load_split
from cornkit.heads.probe import HEAD as PROBE
from cornkit.heads.registry import Head
from cornkit.logs import console
from cornkit.sweeps.params import SweepParams
from cornkit.sweeps.study import Sweep


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--trials", type=int, required=True)
    parser.add_argument("--storage")
    parser.add_argument("--study", default="shared")
    parser.add_argument("--heartbeat", type=int, default=60)
    parser.add_argument("--stall", type=Path)
    args = parser.parse_args()

    def fit(task, params):  # type: ignore[no-untyped-def]
        if args.stall is not None and not args.stall.exists():
            args.stall.write_text(str(os.getpid()))
            while True:
                time.sleep(1)
        assert PROBE.fit is not None
        return PROBE.fit(task, params)

    head = Head(name=PROBE.name, help=PROBE.help, params=PROBE.params, fit=fit)
    dataset = load_dataset(args.data)
    options = SweepParams(trials=args.trials, storage=args.storage, study=args.study, heartbeat=args.heartbeat)
    with console():
        result = Sweep(head, dataset, load_split(args.work, dataset), args.work, {"model": TINY_MODEL, "pretrained": "none"}, options).run()
    print(result.run_id)


if __name__ == "__main__":
    main()
