"""Tests of asvnb.models: shapes, parameter counts against hand sums, MACs, weight loading."""

from __future__ import annotations

import pytest
import torch
import torchvision
from replicas import tiny_wavlm

from asvnb.models import (
    ADVERSARIAL_CLASS,
    CLASSES,
    ResNet18Transfer,
    ResNetSE,
    SimpleCNN,
    SpectrogramCNN,
    count_macs,
    count_params,
    g_resnetse,
    l_resnetse,
    resnet50_classifier,
)


# --------------------------------------------------------------------------- SimpleCNN (the study 04 source)
def test_simplecnn_forward_and_params():
    model = SimpleCNN()
    out = model(torch.randn(2, 3, 224, 224))
    assert out.shape == (2, 2)
    # conv1 3*6*5*5 + 6 = 456; conv2 6*16*5*5 + 16 = 2416;
    # fc1 16*53*53 = 44944 inputs: 44944*120 + 120 = 5393400; fc2 120*84 + 84 = 10164; fc3 84*2 + 2 = 170
    # total 456 + 2416 + 5393400 + 10164 + 170 = 5406606
    assert count_params(model) == 5_406_606
    assert model.fc1.in_features == 44_944


def test_simplecnn_rejects_other_sizes():
    with pytest.raises(ValueError, match="224, 224"):
        SimpleCNN()(torch.randn(1, 3, 128, 128))


# --------------------------------------------------------------------------- SpectrogramCNN (the study 01 source)
def test_spectrogram_cnn_shapes_and_embedding():
    model = SpectrogramCNN().eval()
    x = torch.randn(3, 1, 64, 50)
    assert model(x).shape == (3, 2)
    assert model(x[:, 0]).shape == (3, 2)  # (B, F, T) accepted for one channel
    emb = model.embed(x)
    assert emb.shape == (3, 128)
    # forward is the classification layer on the ReLU of the embedding
    torch.testing.assert_close(model(x), model.fc3(torch.relu(emb)))
    speakers = SpectrogramCNN(n_classes=10, in_channels=3)
    assert speakers(torch.randn(2, 3, 40, 33)).shape == (2, 10)


def test_spectrogram_cnn_rejects_wrong_channels():
    with pytest.raises(ValueError, match="batch, 1, freq, time"):
        SpectrogramCNN()(torch.randn(2, 3, 64, 50))


# --------------------------------------------------------------------------- torchvision ResNets
def test_resnet18_transfer_head_and_params():
    model = ResNet18Transfer(weights=None)
    assert tuple(model.conv1.weight.shape) == (3, 3, 7, 7) and model.conv1.stride == (2, 2)
    assert model.conv1.bias is None
    assert tuple(model.fc1.weight.shape) == (100, 1000) and tuple(model.fc2.weight.shape) == (
        2,
        100,
    )
    assert model.dropout.p == 0.1
    assert all(p.requires_grad for p in model.parameters())
    # extra conv 3*3*7*7 = 441 (no bias); fc1 1000*100 + 100 = 100100; fc2 100*2 + 2 = 202
    resnet18 = count_params(torchvision.models.resnet18(weights=None))
    assert count_params(model) == resnet18 + 441 + 100_100 + 202
    assert model.eval()(torch.randn(2, 3, 64, 64)).shape == (2, 2)


def test_resnet18_transfer_loads_local_state_dict(tmp_path):
    torch.manual_seed(1)
    source = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    model = ResNet18Transfer(weights=str(path))
    torch.testing.assert_close(model.resnet.layer1[0].conv1.weight, source.layer1[0].conv1.weight)
    torch.testing.assert_close(model.resnet.fc.bias, source.fc.bias)


def test_image_resnet_bad_weights(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        ResNet18Transfer(weights=str(tmp_path / "missing.pth"))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth"):
        ResNet18Transfer(weights=str(junk))
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(ValueError, match="wrong.pth.*resnet50"):
        resnet50_classifier(weights=str(wrong))


def test_resnet50_classifier_replaces_fc():
    model = resnet50_classifier(n_classes=3, weights=None).eval()
    assert model.fc.in_features == 2048 and model.fc.out_features == 3
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 3)
    assert all(p.requires_grad for p in model.parameters())


# --------------------------------------------------------------------------- ResNetSE (the study 03 source)
def test_resnetse_front_end_is_the_source_preset():
    model = l_resnetse()  # 22,050 Hz: hop 220 samples, 1 + 4410 // 220 = 21 frames for 0.2 s
    assert (model.frontend.cfg.sr, model.frontend.cfg.n_mels) == (22050, 40)
    feats = model.features(0.1 * torch.randn(2, 4410))
    assert feats.shape == (2, 40, 21)
    # instance-normalised over time, once
    torch.testing.assert_close(feats.mean(-1), torch.zeros(2, 40), atol=1e-4, rtol=0)
    torch.testing.assert_close(feats.std(-1, unbiased=False), torch.ones(2, 40), atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="waveforms"):
        model(torch.randn(2, 40, 21))


def test_resnetse_without_normalisation_passes_the_log_mel_bands_through():
    # the ablation of benchmarks/teacher_training_length.py: the front end's bands, untouched
    wav = 0.1 * torch.randn(2, 4410)
    raw = l_resnetse(normalise=False)
    bands = raw.frontend(wav)
    torch.testing.assert_close(raw.features(wav), bands)
    # a gain of 2 raises every band's log power by log(4) (log_eps aside) and leaves the normalised bands as they are
    torch.testing.assert_close(
        raw.features(2 * wav) - bands, torch.full_like(bands, 1.3863), atol=1e-3, rtol=0
    )
    norm = l_resnetse()
    torch.testing.assert_close(norm.features(2 * wav), norm.features(wav), atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="NaN|inf|finite"):
        ResNetSE((8, 8, 8, 8), frontend=None, normalise=False).features(
            torch.full((1, 40, 5), float("nan"))
        )


def test_resnetse_waveform_and_feature_inputs():
    torch.manual_seed(0)
    model = l_resnetse().eval()
    wav = 0.1 * torch.randn(2, 11025)
    logp = model(wav)
    assert logp.shape == (2, len(CLASSES)) and CLASSES[ADVERSARIAL_CLASS] == "adversarial"
    torch.testing.assert_close(
        logp.exp().sum(dim=1), torch.ones(2)
    )  # log-probabilities, for NLLLoss
    emb = model.embed(wav)
    assert emb.shape == (2, 512)
    torch.testing.assert_close(model.classify(emb), logp)
    feats = ResNetSE((8, 8, 16, 16), layers=(1, 1, 1, 1), emb_dim=32, frontend=None).eval()
    assert feats(torch.randn(3, 40, 50)).shape == (3, 8)
    v2 = ResNetSE(
        (8, 8, 16, 16), layers=(1, 1, 1, 1), emb_dim=32, layout="V2", frontend=None
    ).eval()
    assert v2.embed(torch.randn(3, 40, 50)).shape == (3, 32)
    with pytest.raises(ValueError, match="batch, 40, frames"):
        feats(torch.randn(3, 64, 50))
    with pytest.raises(ValueError, match="layout"):
        ResNetSE((8, 8, 8, 8), layout="V3")
    with pytest.raises(ValueError, match="at least 8 channels"):
        ResNetSE((4, 8, 8, 8))


def test_resnetse_gradient_reaches_the_waveform():
    model = ResNetSE(
        (8, 8, 8, 8), layers=(1, 1, 1, 1), emb_dim=16, frontend={"sr": 8000}
    ).eval()  # dict: as rebuilt from a JSON config
    wav = (0.1 * torch.randn(1, 4000)).requires_grad_()
    model.embed(wav).sum().backward()
    assert wav.grad is not None and wav.grad.abs().sum() > 0


def test_resnetse_params_against_table3():
    student, teacher_l = l_resnetse(sample_rate=None), g_resnetse(sample_rate=None)
    teacher_v2 = g_resnetse(layout="V2", sample_rate=None)
    s, t_l, t_v2 = count_params(student), count_params(teacher_l), count_params(teacher_v2)
    assert abs(s / 1.44e6 - 1) < 0.01 and abs(t_v2 / 6.39e6 - 1) < 0.01  # Table 3
    assert abs(s / t_v2 - 0.225) < 0.002  # the source's 22.5%
    assert 0.25 < s / t_l < 0.26  # channels halved: at least a quarter (module docstring)
    # embedding 512 -> 256 in layout L removes 256 * (C4 + 1) weights of the embedding
    # layer and 256 * 8 of the head: 256 * (128 + 9) = 35072 for the student
    assert s - count_params(l_resnetse(emb_dim=256, sample_rate=None)) == 35_072


def test_resnetse_macs_against_table3():
    frames = 1 + 4 * 22050 // 220  # 4 s at a 10 ms hop -> 401 frames
    student, teacher = l_resnetse(sample_rate=None), g_resnetse(layout="V2", sample_rate=None)
    keys = set(student.state_dict())
    # thop's convention reproduces Table 3 to its rounding: 0.90 G and 4.62 G
    assert round(count_macs(student, (1, 40, frames)) / 1e9, 2) == 0.90
    assert round(count_macs(teacher, (1, 40, frames)) / 1e9, 2) == 4.62
    assert set(student.state_dict()) == keys  # no counter buffers left in the model
    # the dispatcher counter leaves out normalisation: a little lower
    assert 0.98 < count_macs(student, (1, 40, frames), counter="torch") / 0.90e9 < 1.0


# --------------------------------------------------------------------------- complexity
@pytest.mark.parametrize("counter", ["thop", "torch"])
def test_count_macs_hand_computed(counter):
    # Linear(10, 5) on 3 rows: 3 * 10 * 5 = 150 MACs (bias not counted)
    assert count_macs(torch.nn.Linear(10, 5), (3, 10), counter) == 150
    # Conv2d(2, 4, 3, padding 1) on 8x8: 4 * 8 * 8 outputs, each 2 * 3 * 3 = 18 MACs -> 4608
    assert count_macs(torch.nn.Conv2d(2, 4, 3, padding=1), (1, 2, 8, 8), counter) == 4608


def test_count_macs_batch_norm_conventions():
    # affine BatchNorm2d on 1 x 4 x 8 x 8 = 256 elements: thop 2 * 256 to normalise, doubled
    # for scale and shift = 1024; the dispatcher counter counts no element-wise work
    bn = torch.nn.BatchNorm2d(4)
    assert count_macs(bn, (1, 4, 8, 8), "thop") == 1024
    assert count_macs(bn, (1, 4, 8, 8), "torch") == 0


def test_count_macs_restores_mode_and_checks_arguments():
    model = SpectrogramCNN().train()
    count_macs(model, (1, 1, 32, 32))
    assert model.training
    with pytest.raises(ValueError, match="positive sizes"):
        count_macs(model, (1, 0, 32))
    with pytest.raises(ValueError, match="unknown MAC counter"):
        count_macs(model, (1, 1, 32, 32), counter="ptflops")
    lin = torch.nn.Linear(4, 4)
    lin.weight.requires_grad_(False)
    assert count_params(lin) == 20 and count_params(lin, trainable_only=True) == 4


# --------------------------------------------------------------------------- bad input
def _nan_at(x: torch.Tensor, index: tuple) -> torch.Tensor:
    x = x.clone()
    x[index] = float("nan")
    return x


@pytest.mark.parametrize(
    "model, x, name",
    [
        (SimpleCNN(), torch.rand(1, 3, 224, 224), "SimpleCNN"),
        (SpectrogramCNN(), torch.randn(2, 1, 64, 50), "SpectrogramCNN"),
        (ResNet18Transfer(weights=None), torch.rand(1, 3, 64, 64), "ResNet18Transfer"),
        (resnet50_classifier(weights=None), torch.rand(1, 3, 64, 64), "ResNet"),
        (l_resnetse(sample_rate=16000), 0.1 * torch.randn(2, 8000), "ResNetSE"),
        (
            ResNetSE((8, 8, 16, 16), layers=(1, 1, 1, 1), emb_dim=32, frontend=None),
            torch.randn(2, 40, 50),
            "instance_norm",
        ),
    ],
    ids=[
        "SimpleCNN",
        "SpectrogramCNN",
        "ResNet18Transfer",
        "ResNet50",
        "ResNetSE-waveform",
        "ResNetSE-features",
    ],
)
def test_models_refuse_non_finite_input_instead_of_scoring_it(model, x, name):
    model.eval()
    assert torch.isfinite(model(x)).all()
    with pytest.raises(ValueError, match=rf"{name}: the input holds 1 NaN/inf value"):
        model(_nan_at(x, (0,) * x.dim()))


def test_spectrogram_cnn_states_its_minimum_size():
    model = SpectrogramCNN().eval()
    assert model.min_size == 8
    assert model(torch.randn(1, 8, 8)).shape == (1, 2)
    with pytest.raises(
        ValueError,
        match=r"SpectrogramCNN: input of 7 frames is shorter than the minimum of 8 frames "
        r"\(3 max-poolings each halve it\)",
    ):
        model(torch.randn(1, 257, 7))
    with pytest.raises(
        ValueError, match="input of 4 frequency bins is shorter than the minimum of 8"
    ):
        model(torch.randn(1, 4, 50))


def test_resnetse_states_its_minimum_length():
    model = l_resnetse(sample_rate=22050).eval()
    assert model.frontend.min_samples == 513
    assert model(0.1 * torch.randn(1, 513)).shape == (1, len(CLASSES))
    # never torch's "Padding size should be less than the corresponding input dimension"
    with pytest.raises(
        ValueError,
        match=r"ResNetSE: input of 512 samples is shorter than the minimum of 513 samples "
        r"\(its log-mel front-end at 22050 Hz",
    ):
        model(0.1 * torch.randn(1, 512))
    feats = ResNetSE((8, 8, 16, 16), layers=(1, 1, 1, 1), emb_dim=32, frontend=None).eval()
    assert feats(torch.randn(1, 40, 1)).shape == (1, 8)
    with pytest.raises(
        ValueError, match="input of 0 frames is shorter than the minimum of 1 frames"
    ):
        feats(torch.randn(1, 40, 0))


def test_wavlm_detector_refuses_short_and_non_finite_waveforms():
    import numpy as np

    from asvnb.models import wavlm

    fe, model = tiny_wavlm(seed=0)
    assert wavlm.min_samples(model.config) == 400  # WavLM Base's kernels and strides: 25 ms
    rng = np.random.default_rng(0)
    good = [0.1 * rng.standard_normal(n).astype(np.float32) for n in (400, 1600)]
    assert np.isfinite(wavlm.predict_logits(fe, model, good)).all()
    with pytest.raises(
        ValueError,
        match=r"WavLM detector: waveform 1: input of 399 samples is shorter than the "
        r"minimum of 400 samples \(the receptive field",
    ):
        wavlm.predict_logits(fe, model, [good[1], good[1][:399]])
    with pytest.raises(ValueError, match="max_samples: input of 100 samples"):
        wavlm.predict_logits(fe, model, good, max_samples=100)
    bad = good[1].copy()
    bad[5] = np.inf
    with pytest.raises(
        ValueError,
        match=r"WavLM detector: waveform 1: the input holds 1 NaN/inf value\(s\), "
        "first at index 5",
    ):
        wavlm.predict_logits(fe, model, [good[0], bad])
