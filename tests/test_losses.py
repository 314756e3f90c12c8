import math

import torch

from gmgan import losses


def test_non_saturating_losses_equal_the_paper_formulas():
    real, fake = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([-3.0, 0.2])
    D = torch.sigmoid
    expected_d = 0.5 * (-torch.log(D(real)).mean() - torch.log(1 - D(fake)).mean())  # Alg. 1 line 16
    torch.testing.assert_close(losses.ns_d_loss(real, fake), expected_d)
    torch.testing.assert_close(losses.ns_g_loss(fake), -torch.log(D(fake)).mean())  # Eq. 2


def test_non_saturating_losses_are_finite_for_extreme_logits():
    big = torch.tensor([1e4, -1e4])
    assert torch.isfinite(losses.ns_d_loss(big, big)) and torch.isfinite(losses.ns_g_loss(big))
    assert math.isclose(float(losses.ns_g_loss(torch.tensor([-1e4]))), 1e4, rel_tol=1e-6)


def test_wgan_losses():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-2.0, 0.0])
    assert float(losses.wgan_d_loss(real, fake)) == -3.0
    assert float(losses.wgan_g_loss(fake)) == 1.0


def test_gradient_penalty_is_zero_for_unit_gradient_and_differentiable():
    w = torch.tensor([0.6, 0.8], requires_grad=True)  # |grad| = 1 everywhere
    gp = losses.gradient_penalty(lambda x: x @ w, torch.randn(16, 2), torch.randn(16, 2))
    assert abs(float(gp.detach())) < 1e-10
    w2 = torch.tensor([1.2, 1.6], requires_grad=True)  # |grad| = 2
    gp2 = losses.gradient_penalty(lambda x: x @ w2, torch.randn(16, 2), torch.randn(16, 2))
    torch.testing.assert_close(gp2, torch.tensor(1.0))
    gp2.backward()  # the penalty trains the critic
    assert w2.grad is not None and w2.grad.abs().sum() > 0
