#!/usr/bin/env python3
"""The weighted cross-entropy case of tests/check_grad.c (test_weighted_loss) in PyTorch float64.

torch.nn.functional.cross_entropy(weight=w) with its default reduction 'mean' is
sum(w[y] * nll) / sum(w[y]); this prints that loss, the plain mean, and the gradient of the
weighted loss with respect to the fc layer's weights and biases, for the numbers the test
records. Run: /usr/bin/python3 tools/weighted_xent_torch.py
"""
import torch

W = torch.tensor([[0.5, -0.25], [1.0, 0.75], [-0.5, 0.125]], dtype=torch.float64, requires_grad=True)
b = torch.tensor([0.125, -0.25, 0.375], dtype=torch.float64, requires_grad=True)
x = torch.tensor([[1.0, 2.0], [-1.0, 0.5], [0.25, -1.5], [2.0, -0.5]], dtype=torch.float64)
y = torch.tensor([0, 2, 1, 2])
w = torch.tensor([0.5, 2.0, 1.25], dtype=torch.float64)
z = x @ W.T + b
loss = torch.nn.functional.cross_entropy(z, y, weight=w)
loss.backward()
plain = torch.nn.functional.cross_entropy(z, y)
print("weighted %.17g" % loss.item())
print("plain %.17g" % plain.item())
print("dW", " ".join("%.17g" % v for v in W.grad.flatten().tolist()))
print("db", " ".join("%.17g" % v for v in b.grad.tolist()))
