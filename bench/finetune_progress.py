"""Fine-tuning as a teacher sees it: submit latency, the time-left estimate against the real time, honest accuracy.

Run: ``CNN_DEMO_WEIGHTS_DIR=../shared/data/weights .venv/bin/python bench/finetune_progress.py``
(``--backbone``, ``--image-size``, ``--epochs``, ``--test-fraction``). On hymenoptera it

1. packs the split as the page's submit button does, timing the first progress update (when the page shows its
   bar) and the whole hand-over;
2. runs the ``finetune`` job in a thread of this process (as a worker would) in a fresh state folder, polling
   ``jobs.status`` every 0.25 s like the job panel, and compares each time-left estimate with the real time the
   phase then took (features: to the end of extraction; epochs: to the end of the job);
3. prints the accuracies told apart (final and best epoch, held-out test) with their majority-class baselines.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbone", default="cifar_resnet20")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    args = parser.parse_args()
    os.environ["CNN_DEMO_STATE_DIR"] = tempfile.mkdtemp(prefix="ft-bench-")

    from cnn_demo import finetune, jobs
    from cnn_demo.data import datasets

    ds = datasets.load_dataset(ROOT.parent / "shared" / "data" / "hymenoptera_data")
    split = datasets.split_dataset(ds, test_fraction=args.test_fraction)
    t0 = time.perf_counter()
    first: list[float] = []
    blob = finetune.pack_dataset(ds, split, on_progress=lambda d, n: first or first.append(time.perf_counter() - t0))
    packed = time.perf_counter() - t0
    cfg = finetune.TrainConfig(
        backbone=args.backbone, strategy="frozen", epochs=args.epochs, image_size=args.image_size, seed=0
    )
    owner = "bench"
    job_id = jobs.submit("finetune", {"config": cfg.to_dict()}, owner, files={"data.zip": blob})
    submitted = time.perf_counter() - t0
    print(
        f"submit: first progress update after {first[0] * 1000:.0f} ms, {len(ds)} images packed in {packed:.2f} s, "
        f"job queued after {submitted:.2f} s ({len(blob) / 1e6:.1f} MB)"
    )

    samples: list[tuple[float, str, int, int, float | None]] = []
    runner = threading.Thread(target=jobs.run_job, args=(job_id,))
    runner.start()
    while runner.is_alive():
        s = jobs.status(job_id, owner)
        if s.state == "running" and s.total:
            samples.append((time.time(), s.phase, s.done, s.total, s.eta_s))
        time.sleep(0.25)
    runner.join()
    end = time.time()
    last_feature = max((t for t, phase, *_ in samples if phase == "features"), default=None)
    feature_end = None
    if last_feature is not None:  # the first poll that saw the epochs phase after extraction: it had ended by then
        feature_end = min((t for t, phase, *_ in samples if phase == "epochs" and t > last_feature), default=end)
    for phase, phase_end in (("features", feature_end), ("epochs", end)):
        errors = [
            (t, (t + eta) - phase_end, done, total)
            for t, p, done, total, eta in samples
            if p == phase and eta is not None and phase_end is not None
        ]
        if not errors:
            print(f"{phase}: no estimate shown (phase too short to sample)")
            continue
        after = last_feature if phase == "epochs" and last_feature is not None else 0.0
        first_seen = min(t for t, p, *_ in samples if p == phase and t > after)
        errors = [e for e in errors if e[0] >= first_seen]
        lag = errors[0][0] - first_seen
        worst = max(abs(e) for _, e, *_ in errors)
        mid = errors[len(errors) // 2]
        print(
            f"{phase}: {len(errors)} estimates over {phase_end - first_seen:.1f} s; first after {lag:.1f} s; "
            f"error of the estimated end: first {errors[0][1]:+.1f} s, midway {mid[1]:+.1f} s, worst {worst:.1f} s"
        )
    res = jobs.status(job_id, owner).result
    print(
        f"accuracy ({args.backbone}, frozen, {args.image_size} px, {res['epochs']} epochs): "
        f"validation final epoch {res['final_val_accuracy']:.1%}, best epoch {res['best_epoch']} "
        f"{res['best_val_accuracy']:.1%}, majority-class baseline {res['baseline_val_accuracy']:.1%} "
        f"({res['majority_class']}); "
        + (
            f"test ({res['n_test']} held out) {res['test_accuracy']:.1%} (final epoch "
            f"{res['final_test_accuracy']:.1%}), baseline {res['baseline_test_accuracy']:.1%}"
            if "test_accuracy" in res
            else "no test split"
        )
    )
    print(f"feature extraction {res['feature_seconds']:.1f} s, training total {res['seconds']:.1f} s")


if __name__ == "__main__":
    main()
