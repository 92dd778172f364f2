"""Run the fault campaign (tests/campaign/campaign_lib.py) over any number of seeds against a private emulator.

    python tools/campaign.py --seeds 40          # seeds 1..40
    python tools/campaign.py --seed 17           # replay one plan
    python tools/campaign.py --seeds 20 --first 100
    python tools/campaign.py --target flexible --seeds 10   # a Flexible scale set (vm_group: plain VMs)

Every failing plan is printed in full with its seed and the invariants it broke; the totals go to stdout last as
one JSON object: plans run, invariants checked, failures, and the failing seeds.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "campaign"))
sys.path.insert(0, str(REPO / "emulator"))

import campaign_lib  # noqa: E402
import campaign_targets  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="how many seeds to run (from --first)")
    parser.add_argument("--first", type=int, default=1, help="the first seed (default 1)")
    parser.add_argument("--seed", type=int, action="append", help="run this seed (repeatable); overrides --seeds")
    parser.add_argument("--target", choices=("uniform",) + campaign_targets.TARGETS, default="uniform",
                        help="the kind of rollout target (default uniform: campaign_lib's plans)")
    parser.add_argument("--plan-only", action="store_true", help="print the plans and what they cover, run nothing")
    parser.add_argument("--keep", metavar="DIR", help="keep each plan's playbook, output and result under DIR")
    parser.add_argument("--verbose", action="store_true", help="print every plan's report, not only failures")
    args = parser.parse_args(argv)
    seeds = args.seed or list(range(args.first, args.first + args.seeds))
    uniform = args.target == "uniform"
    lib = campaign_lib if uniform else campaign_targets
    plans = [campaign_lib.make_plan(seed) if uniform else campaign_targets.make_plan(seed, args.target)
             for seed in seeds]
    if args.plan_only:
        for plan in plans:
            print(json.dumps(plan, sort_keys=True))
        print(json.dumps(lib.plan_covers(plans), indent=1))
        return 0

    from vmss_emulator.testing import EmulatorProcess

    totals = {"plans": 0, "invariants_checked": 0, "failures": 0, "failed_plans": 0, "failing_seeds": {},
              "seconds": 0.0}
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vmss-campaign-") as tmp:
        plans_dir = Path(args.keep).resolve() if args.keep else Path(tmp)
        emulator = EmulatorProcess(Path(tmp) / "emulator", port=0)
        emulator.start(timeout=60)
        try:
            for plan in plans:
                try:
                    report = lib.run_plan(plan, emulator, plans_dir / ("seed-%d" % plan["seed"]))
                except Exception as err:  # noqa: BLE001 - a plan that could not run is a failure, reported
                    report = campaign_lib.Report(plan)
                    report.check("the plan ran", False, repr(err))
                totals["plans"] += 1
                totals["invariants_checked"] += report.checked
                totals["failures"] += len(report.failures)
                if report.failures:
                    totals["failed_plans"] += 1
                    totals["failing_seeds"][str(plan["seed"])] = report.failed_invariants
                if report.failures or args.verbose:
                    print(report.text(), flush=True)
                    if args.verbose:
                        print("timings: %s" % json.dumps(report.timings), flush=True)
                else:
                    print("seed %d: pass (%d invariants, %.0f s)" % (plan["seed"], report.checked, report.seconds),
                          flush=True)
        finally:
            emulator.stop()
    totals["seconds"] = round(time.monotonic() - began, 1)
    print(json.dumps(totals, sort_keys=True))
    return 1 if totals["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
