"""Training-step speed of a model in channels_last against the default (contiguous) layout, on this machine.

Same model (fresh per repeat, same seed), random inputs, Nesterov SGD, forward + backward + step; the layouts
alternate ``--repeats`` times in one process and each repeat times ``--steps`` steps after one warm-up step. The
ratio is that of the median images/s. It decides ``bench.models.CPU_CHANNELS_LAST`` (train.channels_last=auto).

    python scripts/bench_channels_last.py --model airbench --widths 1.0:256 0.25:1024 --out results/throughput
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from bench.models import create_model


def images_per_second(model_name: str, width: float, batch: int, layout: str, steps: int) -> float:
    torch.manual_seed(0)
    model = create_model(model_name, 10, (3, 32, 32), width=width)
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    if layout == "channels_last":
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9, nesterov=True)
    start = 0.0
    for step in range(steps + 1):
        if step == 1:
            start = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="airbench")
    ap.add_argument("--widths", nargs="+", default=["1.0:256", "0.25:1024"], help="width:batch pairs")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--out", default="results/throughput")
    args = ap.parse_args()
    rows = []
    for pair in args.widths:
        width, batch = float(pair.split(":")[0]), int(pair.split(":")[1])
        speeds: dict[str, list[float]] = {"contiguous": [], "channels_last": []}
        for _ in range(args.repeats):
            for layout in speeds:
                speeds[layout].append(images_per_second(args.model, width, batch, layout, args.steps))
        med = {k: statistics.median(v) for k, v in speeds.items()}
        runs = {k: ", ".join(f"{s:,.0f}" for s in v) for k, v in speeds.items()}
        ratio = med["channels_last"] / med["contiguous"]
        rows.append(f"| {width} | {batch} | {runs['contiguous']} | {runs['channels_last']} | **{ratio:.2f}** |")
        print(rows[-1])
    cmd = f"python scripts/bench_channels_last.py --model {args.model} --widths {' '.join(args.widths)}"
    text = [
        f"# channels_last on {platform.machine()} CPU: model={args.model}",
        "",
        f"`{cmd} --repeats {args.repeats} --steps {args.steps}` ({time.strftime('%Y-%m-%d %H:%M')}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__})",
        "",
        "Training images/s (forward + backward + SGD step, random inputs), layouts alternating in one process.",
        "",
        "| width | batch | contiguous images/s | channels_last images/s | ratio of medians |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "channels_last.md").write_text("\n".join(text))


if __name__ == "__main__":
    main()
