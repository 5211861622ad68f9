#!/usr/bin/python3
"""make_optim_fixtures.py: the PyTorch float64 numbers tests/check_optim.c compares nn/optim.c with.

Prints C arrays (paste them into tests/check_optim.c):
- for each of torch.optim.SGD (momentum 0.9), Adam and AdamW, the parameters after each of
  STEPS steps from P0 with the gradients G[step], at a learning rate that follows a cosine
  schedule with a one-epoch warmup (as nn/optim.h defines it: LinearLR then
  CosineAnnealingLR, stepped every step), the weight decay on the first two parameters only
  (a parameter group, as cnnf decays conv and fc weights and not biases);
- the learning rates of every step of a run of EPOCHS epochs of SPE steps for the cosine and
  the step schedule, each with a one-epoch warmup, from PyTorch's schedulers.

    /usr/bin/python3 tools/make_optim_fixtures.py > /tmp/fixtures.c
"""
import torch

P0 = [0.5, -1.25, 2.0, 0.1]
G = [[0.3, -0.2, 0.05, 1.5], [-0.1, 0.4, 0.0, -2.0], [0.25, 0.25, -0.5, 0.75],
     [1.0, -1.0, 0.125, 0.0], [-0.6, 0.1, 0.2, 0.3]]
STEPS = len(G)
EPOCHS, SPE = 5, 3


def warmup_scheduler(opt, spe, warmup=1):
    """The warmup of nn/optim.h: LinearLR from 1 / w to 1 over w steps, stepped every step."""
    w = warmup * spe
    return torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0 / w, end_factor=1.0,
                                             total_iters=w - 1), w


def main_scheduler(opt, kind, left, spe, step_size=2, gamma=0.5):
    """What follows the warmup, over its `left` steps, stepped every step."""
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=left, eta_min=0)
    return torch.optim.lr_scheduler.StepLR(opt, step_size=step_size * spe, gamma=gamma)


def lrs(kind):
    """The learning rate of each step (base 0.1): the warmup's for the first w, then main's,
    which starts from the base rate after the warmup, as SequentialLR does."""
    out = []
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    warm, w = warmup_scheduler(opt, SPE)
    for i in range(w):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        warm.step()
    opt = torch.optim.SGD([p], lr=0.1)
    main = main_scheduler(opt, kind, EPOCHS * SPE - w, SPE)
    for i in range(EPOCHS * SPE - w):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        main.step()
    return out


def trajectory(make):
    a = torch.tensor(P0[:2], dtype=torch.float64, requires_grad=True)
    b = torch.tensor(P0[2:], dtype=torch.float64, requires_grad=True)
    opt = make([{"params": [a]}, {"params": [b], "weight_decay": 0.0}])
    rates = lrs("cosine")
    out = []
    for t in range(STEPS):
        for grp in opt.param_groups:
            grp["lr"] = rates[t] * 10  # the cosine schedule of base rate 1
        a.grad = torch.tensor(G[t][:2], dtype=torch.float64)
        b.grad = torch.tensor(G[t][2:], dtype=torch.float64)
        opt.step()
        out.append(a.tolist() + b.tolist())
    return out


def c_array(name, rows):
    print("static const double %s[][4] = {" % name)
    for r in rows:
        print("\t{%s}," % ", ".join("%.17g" % v for v in r))
    print("};")


def main():
    print("/* Made by tools/make_optim_fixtures.py with PyTorch %s, float64. */" % torch.__version__)
    c_array("want_sgd", trajectory(lambda g: torch.optim.SGD(g, lr=1.0, momentum=0.9,
                                                             weight_decay=0.05)))
    c_array("want_adam", trajectory(lambda g: torch.optim.Adam(g, lr=1.0, betas=(0.8, 0.95),
                                                               eps=1e-3, weight_decay=0.05)))
    c_array("want_adamw", trajectory(lambda g: torch.optim.AdamW(g, lr=1.0, betas=(0.8, 0.95),
                                                                 eps=1e-3, weight_decay=0.05)))
    for kind in ("cosine", "step"):
        print("static const double want_lr_%s[] = {%s};"
              % (kind, ", ".join("%.17g" % v for v in lrs(kind))))


if __name__ == "__main__":
    main()
