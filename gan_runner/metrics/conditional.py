"""Does conditioning work? Class accuracy of conditional samples, and InfoGAN's categorical-code purity.

Both judge generated images with the feature network's classifier (trained on the real data):
- class accuracy (CGAN, ACGAN): share of samples generated for label y that the classifier calls y;
- purity (InfoGAN, whose codes are unsupervised and so match classes only up to a permutation):
  for each value of the first categorical code, the share of its samples in its most frequent
  predicted class, averaged over code values. 1.0 = each code value yields a single class.
"""
from __future__ import annotations

import torch

from gan_runner.errors import UserError
from gan_runner.metrics.context import EvalContext
from gan_runner.metrics.registry import register_metric


def class_accuracy(pred: torch.Tensor, y: torch.Tensor) -> float:
    """Share of predicted classes (N,) equal to the conditioning labels (N,)."""
    return float((pred.cpu() == y.cpu()).double().mean())


def code_purity(codes: torch.Tensor, pred: torch.Tensor) -> float:
    """Mean over code values of the majority-class share among that value's samples; codes, pred: (N,) ints."""
    codes, pred = codes.cpu().long(), pred.cpu().long()
    shares = []
    for value in codes.unique():
        classes = pred[codes == value]
        shares.append(torch.bincount(classes).max().item() / len(classes))
    return float(sum(shares) / len(shares))


@register_metric("class_acc", reports=("class_accuracy",), higher=("class_accuracy",), needs_images=True,
                 needs_labels=True, needs_conditional=True, reads=("class_logits",))
def conditional_accuracy(ctx: EvalContext) -> dict[str, float]:
    """Classifier accuracy on samples generated for given labels (conditional models)."""
    if ctx.fake.y is None:
        raise UserError("metric 'class_acc' needs a class-conditional model (cgan, acgan)")
    return {"class_accuracy": class_accuracy(ctx.fake_class_logits().argmax(1), ctx.fake.y)}


@register_metric("purity", reports=("purity",), higher=("purity",), needs_images=True, needs_labels=True,
                 needs_codes=True, reads=("class_logits",))
def infogan_purity(ctx: EvalContext) -> dict[str, float]:
    """How well InfoGAN's first categorical code predicts the classifier's class."""
    if ctx.fake.c_cat is None:
        raise UserError("metric 'purity' needs an InfoGAN model (categorical codes)")
    return {"purity": code_purity(ctx.fake.c_cat[:, 0], ctx.fake_class_logits().argmax(1))}
