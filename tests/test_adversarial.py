"""Tests of asvnb.train.adversarial: BIM bounds, falling similarity, keep rule and relabelling."""

from __future__ import annotations

import pytest
import torch

from asvnb.features import preset
from asvnb.models.resnetse import ADVERSARIAL_CLASS, ResNetSE
from asvnb.train.adversarial import (
    INT16_FULL_SCALE,
    AdversarialSet,
    FineTuneSet,
    bim_attack,
    generate_adversarial,
    load_adversarial,
    perturbation_snr_db,
    same_speaker_partners,
    save_adversarial,
)

INT16 = INT16_FULL_SCALE


def tiny_model(seed: int = 0) -> ResNetSE:
    """A small random ResNetSE on 8 kHz waveforms, fast enough for CPU tests."""
    torch.manual_seed(seed)
    return ResNetSE(
        (8, 8, 8, 8), layers=(1, 1, 1, 1), emb_dim=16, frontend=preset("logmel40_resnetse", sr=8000)
    ).eval()


def batch(n: int = 6, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(n, 4000, generator=g), 0.1 * torch.randn(n, 4000, generator=g)


def test_perturbation_within_clip_bound():
    model = tiny_model()
    w, ref = batch()
    adv, _ = bim_attack(model.embed, w, ref)  # default eps = alpha * iters = 15 int16 units
    d = (adv - w).abs().max().item() * INT16
    assert 3.0 < d <= 15.0 + 1e-3
    adv, _ = bim_attack(model.embed, w, ref, eps=4.0)  # a bound that binds before 5 steps of 3
    assert (adv - w).abs().max().item() * INT16 <= 4.0 + 1e-3


def test_int16_scale_and_range_clip():
    model = tiny_model()
    w, ref = batch()
    # int16-valued waveforms: alpha is in sample units directly
    adv, _ = bim_attack(lambda x: model.embed(x / INT16), w * INT16, ref * INT16, full_scale=INT16)
    assert (adv - w * INT16).abs().max().item() <= 15.0 + 1e-3
    # a signal at full scale stays a valid waveform
    loud = torch.sign(w) * 0.99995
    adv, _ = bim_attack(model.embed, loud, ref, alpha=300.0)
    assert adv.abs().max().item() <= 1.0
    assert (adv - loud).abs().max().item() > 0


def test_similarity_falls_over_iterations():
    model = tiny_model()
    w, ref = batch()
    sims = torch.stack([bim_attack(model.embed, w, ref, iters=k)[1] for k in range(6)])
    with torch.no_grad():
        start = torch.nn.functional.cosine_similarity(model.embed(ref), model.embed(w), dim=-1)
    torch.testing.assert_close(sims[0], start)  # no iteration, no perturbation
    assert (sims[1:] < sims[:-1]).all()  # every sample, every step


def test_generate_keeps_below_threshold_with_label_7():
    model = tiny_model().train()
    w, _ = batch(8)
    speakers = ["s1", "s1", "s1", "s2", "s2", "s3", "s3", "s3"]
    kw = dict(alpha=300.0, iters=5, seed=3)
    partners = torch.from_numpy(same_speaker_partners(speakers, seed=3))
    model.eval()
    _, all_sims = bim_attack(model.embed, w, w[partners], alpha=300.0, iters=5)
    ordered = all_sims.sort().values
    threshold = ((ordered[3] + ordered[4]) / 2).item()  # half kept, away from any sample's value
    model.train()
    out = generate_adversarial(model, w, speakers, threshold=threshold, batch_size=3, **kw)
    assert model.training  # mode given back
    assert all(p.grad is None for p in model.parameters())  # the attack trains nothing
    assert len(out) == 4 and out.n_tried == 8
    assert (out.labels == ADVERSARIAL_CLASS).all() and ADVERSARIAL_CLASS == 7
    assert (out.cos_sim <= threshold).all()
    expected_kept = torch.nonzero(all_sims <= threshold).flatten()
    torch.testing.assert_close(out.source_index, expected_kept)
    torch.testing.assert_close(out.cos_sim, all_sims[expected_kept], atol=1e-4, rtol=0)
    torch.testing.assert_close(out.reference_index, partners[expected_kept])
    assert out.waveforms.shape == (len(out), 4000)
    assert ((out.waveforms - w[expected_kept]).abs().max() * INT16 <= 1500.0 + 1e-2).all()


def test_partners_are_other_utterances_of_the_same_speaker():
    speakers = ["a", "b", "a", "b", "a"]
    partners = same_speaker_partners(speakers, seed=0)
    for i, j in enumerate(partners):
        assert j != i and speakers[j] == speakers[i]


def test_bad_inputs():
    model = tiny_model()
    w, _ = batch(3)
    with pytest.raises(ValueError, match="only one: c"):
        generate_adversarial(model, w, ["a", "a", "c"])
    with pytest.raises(ValueError, match="2 speaker labels for 3 waveforms"):
        generate_adversarial(model, w, ["a", "a"])
    with pytest.raises(ValueError, match="batch, samples"):
        bim_attack(model.embed, w[0], w[0])


def test_perturbation_snr_of_bim_in_int16_units():
    w = 0.1 * torch.ones(2, 100)
    d = torch.zeros(2, 100)
    d[0] = 0.01
    snr = perturbation_snr_db(w, w + d)
    torch.testing.assert_close(snr[0], torch.tensor(20.0))
    assert torch.isinf(snr[1])
    # 5 BIM steps of 3 int16 units on a -20 dBFS signal: at least 20 log10(0.1 * 32768 / 15) = 46.8 dB
    model = tiny_model()
    wav, ref = batch()
    adv, _ = bim_attack(model.embed, wav, ref)
    bound = 10 * torch.log10(wav.pow(2).sum(-1) / (adv.shape[-1] * (15 / INT16) ** 2))
    assert (perturbation_snr_db(wav, adv) >= bound - 1e-3).all()
    with pytest.raises(ValueError, match="shape"):
        perturbation_snr_db(wav, adv[:, :10])


def test_subset_save_and_load_round_trip(tmp_path):
    wav = 0.1 * torch.randn(4, 4000, generator=torch.Generator().manual_seed(3))
    every = generate_adversarial(
        tiny_model(), wav, ["a", "a", "b", "b"], threshold=float("inf"), iters=1
    )
    kept = every.subset(torch.tensor([1, 3]))
    assert len(kept) == 2 and kept.n_tried == every.n_tried == 4
    torch.testing.assert_close(kept.waveforms, every.waveforms[[1, 3]])
    assert kept.source_index.tolist() == [1, 3]
    path = tmp_path / "sets" / "kept.pt"
    save_adversarial(kept, path)
    assert [p.name for p in path.parent.iterdir()] == ["kept.pt"]  # no temporary file left
    back = load_adversarial(path)
    for name in ("waveforms", "labels", "cos_sim", "source_index", "reference_index"):
        torch.testing.assert_close(getattr(back, name), getattr(kept, name))
    assert back.n_tried == 4


class _Base(torch.utils.data.Dataset):
    def __init__(self):
        self.epoch = None

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return torch.zeros(10), 0, f"u{i}"


def test_finetune_set_passes_the_epoch_to_its_base_and_augments_by_epoch():
    every = AdversarialSet(
        torch.zeros(2, 10),
        torch.full((2,), ADVERSARIAL_CLASS),
        torch.zeros(2),
        torch.arange(2),
        torch.arange(2),
        n_tried=2,
    )
    seen = []

    def augment(w, rng):
        seen.append(rng.integers(1 << 30))
        return w

    ds = FineTuneSet(_Base(), every, augment, seed=5)
    ds.set_epoch(3)
    assert ds.base.epoch == 3 and len(ds) == 4
    x, label, uid = ds[3]
    assert (label, uid) == (ADVERSARIAL_CLASS, "adv1") and x.shape == (10,)
    ds[3]
    ds.set_epoch(4)
    ds[3]
    assert seen[0] == seen[1] != seen[2]  # the draw depends on (seed, epoch, index) only
