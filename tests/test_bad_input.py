"""Table-driven: every bad input a user can give fails before training with one clear line, writing nothing.

(The CLI tests check the same path end to end: one stderr line, exit code 2.)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from PIL import Image

from gan_runner.errors import UserError
from gan_runner.run import run

from conftest import call_main, tiny

CASES = [
    # (overrides, substring of the one-line message)
    (["model.width=0"], "option 'width' must be > 0"),
    (["model.width=-3"], "option 'width' must be > 0"),
    (["model.z_dim=0"], "option 'z_dim' must be > 0"),
    (["model.width=abc"], "option 'width' must be int"),
    (["model.width=1.5"], "option 'width' must be int"),
    (["+model.widht=3"], "has no option 'widht'"),
    (["model.d_norm=group"], "option 'd_norm' must be one of"),
    (["model=acgan", "model.dropout=1.5"], "must be a probability"),
    (["model=gan", "model.d_activation=tanh"], "option 'd_activation' must be one of"),
    (["model=gan", "model.dropout=-0.1"], "must be a probability"),
    (["model=infogan", "model.cat_dim=1"], "cat_dim"),
    (["model=infogan", "model.n_cont=-1"], "n_cont"),
    (["model=infogan", "model.n_cat=0"], "n_cat"),
    (["model=infogan", "dataset.image_size=10"], "divisible by 4"),
    (["model=cgan", "dataset=ring8"], "needs class labels"),
    (["model=acgan", "dataset=ring8"], "needs image data"),
    (["model=dcgan", "dataset=ring8"], "use model=gan for 2D data"),
    (["dataset.image_size=12"], "4*2^k"),
    (["dataset.image_size=2"], "image_size"),
    (["dataset.batch_size=0"], "dataset.batch_size must be an integer >= 1"),
    (["dataset.batch_size=100000"], "larger than dataset"),
    (["dataset=ring8", "model=gan", "dataset.std=0"], "std"),
    (["dataset=mnist", "dataset.root=/nonexistent"], "put the files there or set dataset.download=true"),
    (["dataset=image_folder"], "needs dataset.root"),
    (["+dataset.colour=1"], "has no option 'colour'"),
    (["loss=wgan", "loss.clip=-1"], "clip"),
    (["loss=wgan_gp", "loss.gp_weight=-1"], "gp_weight"),
    (["+loss.margin=1"], "loss 'ns' has no option 'margin'"),
    (["loss.label_smoothing=1.0"], "label_smoothing' must be in [0, 1)"),
    (["loss=hinge", "+loss.label_smoothing=0.1"], "loss 'hinge' has no option 'label_smoothing'"),
    (["stabilize.diffaugment=[colour]"], "stabilize.diffaugment"),
    (["model=gan", "dataset=ring8", "stabilize.diffaugment=[color]"], "diffaugment needs images"),
    (["stabilize.r1=-1"], "stabilize.r1 must be a number >= 0"),
    (["stabilize.reg_every=0"], "stabilize.reg_every must be an integer >= 1"),
    (["stabilize.unroll=1.5"], "stabilize.unroll must be an integer"),
    (["+stabilize.r3=1"], "stabilize has no option 'r3'"),
    (["model.pack=3"], "model.pack=3 needs dataset.batch_size divisible"),
    (["model.pack=0"], "option 'pack' must be >= 1"),
    (["model=sngan", "model.spectral_norm=false"], "model 'sngan' is spectrally normalized by definition"),
    (["model=cgan", "+model.packs=2"], "model 'cgan' has no option 'packs'"),
    (["loss.name=focal"], "unknown loss 'focal'"),
    (["optimizer.lr_g=0"], "optimizer.lr_g must be a number > 0"),
    (["optimizer.lr_d=-1"], "optimizer.lr_d must be a number > 0"),
    (["optimizer.lr_g=nan"], "optimizer.lr_g must be a number > 0"),
    (["optimizer.betas=[0.5]"], "betas"),
    (["optimizer.schedule=exp"], "optimizer.schedule must be"),
    (["optimizer.warmup_steps=-1"], "warmup_steps"),
    (["+optimizer.nesterov=true"], "optimizer 'adam' has no option 'nesterov'"),
    (["trainer.max_steps=0"], "trainer.max_steps must be an integer >= 1"),
    (["trainer.n_critic=0"], "trainer.n_critic must be an integer >= 1"),
    (["trainer.log_every=0"], "trainer.log_every must be an integer >= 1"),
    (["trainer.max_time=-5"], "trainer.max_time must be"),
    (["trainer.ema=1.5"], "trainer.ema must be a decay in [0, 1)"),
    (["trainer.device=tpu"], "trainer.device must be auto, cpu or cuda"),
    (["trainer.on_divergence=ignore"], "trainer.on_divergence must be stop or rollback"),
    (["+trainer.lr=1"], "trainer has no option 'lr'"),
    (["trainer.resume=/nonexistent/run"], "does not exist"),
    (["seed=abc"], "seed must be an integer"),
    (["eval.metrics=[fidd]"], "unknown metric 'fidd'"),
    (["model=gan", "dataset=ring8", "eval.metrics=[parzen]"], "metric 'parzen' needs images"),
    (["eval.num=1"], "eval.num must be an integer >= 2"),
]


def compose_bad(overrides: list[str]):
    model = next((o.split("=", 1)[1] for o in overrides if o.startswith("model=")), "dcgan")
    base = [o for o in tiny(model) if o.split("=")[0] not in {o2.split("=")[0].lstrip("+") for o2 in overrides}]
    with initialize_config_module("gan_runner.conf", version_base=None):
        return compose("config", overrides=[*base, *overrides])


@pytest.mark.parametrize("overrides,message", CASES, ids=[" ".join(o) for o, _ in CASES])
def test_bad_input_fails_before_training_and_writes_nothing(tmp_path, overrides, message):
    run_dir = tmp_path / "run"
    with pytest.raises(UserError) as info:
        run(compose_bad(overrides), run_dir)
    text = str(info.value)
    assert message in text and "\n" not in text
    assert not run_dir.exists(), "a failed start must leave nothing a later run could trip over"


def test_enough_cases():
    assert len(CASES) >= 30


def _folder(tmp_path: Path, corrupt: bool) -> Path:
    root = tmp_path / "imgs"
    root.mkdir()
    for i in range(4):
        Image.new("RGB", (10, 10), (i * 40, 0, 0)).save(root / f"{i}.png")
    if corrupt:
        (root / "broken.png").write_bytes(b"not a png")
    return root


def test_image_folder_with_a_corrupt_file_names_it(tmp_path):
    root = _folder(tmp_path, corrupt=True)
    with pytest.raises(UserError, match="broken.png"):
        run(compose_bad(["dataset=image_folder", f"dataset.root={root}", "dataset.image_size=8",
                         "dataset.batch_size=2"]), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_resume_from_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "notarun").mkdir()
    with pytest.raises(UserError, match="not a gan-runner run dir"):
        run(compose_bad([f"trainer.resume={tmp_path / 'notarun'}"]), tmp_path / "run")


# ----------------------------------------------------------------------------------------------------------------
# Issue 22's red-team cases through each tool's main(), grouped by tool: exit 2, one `error:` line, no traceback,
# and no training output where a run failed. LONG is a file name no file system takes (ENAMETOOLONG).
LONG = "a" * 5000


@dataclass
class Files:
    """What the cases point at: a trained run, bad checkpoints, bad report inputs, image folders."""

    root: Path
    run: Path

    def __truediv__(self, name: str) -> Path:
        return self.root / name


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    root = tmp_path_factory.mktemp("bad_inputs")
    run(compose_bad(["trainer.max_steps=2"]), root / "good")
    ckpt = lambda: torch.load(root / "good" / "checkpoints" / "last.pt", weights_only=True)  # noqa: E731
    (root / "text.txt").write_text("this is not a checkpoint\n")  # 25 bytes
    (root / "afile").write_text("x")
    bad_step = ckpt()
    bad_step["step"] = "abc"
    torch.save(bad_step, root / "step_abc.pt")
    for name, text in [("broken", "{broken"), ("list", "[1, 2]"), ("final", '{"status": "completed", "final": [1, 2]}'),
                       ("surrogate", '{"status": "completed", "reason": "\\ud800"}')]:
        (root / f"rep_{name}").mkdir()
        (root / f"rep_{name}" / "metrics.json").write_text(text)
    for name, text in [("num", "42"), ("bad", "[a, b"), ("py", "!!python/object/apply:os.system ['touch pwned']")]:
        (root / f"ov_{name}" / ".hydra").mkdir(parents=True)
        (root / f"ov_{name}" / ".hydra" / "overrides.yaml").write_text(text)
    for name, labels in [("inf", "Infinity"), ("big", "1000000000000"), ("float", "1.7"), ("ok", "1"), ("one", "0")]:
        folder = root / f"imgs_{name}"
        folder.mkdir()
        for i in range(4):
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(folder / f"{i}.png")
        entries = ", ".join(f'["{i}.png", {labels if i == 0 else 0}]' for i in range(4))
        (folder / "dataset.json").write_text(f'{{"labels": [{entries}]}}')
    folder = ["dataset=image_folder", "dataset.image_size=8", "dataset.batch_size=2", "trainer.max_steps=1"]
    run(compose_bad([*folder, f"dataset.root={root / 'imgs_ok'}"]), root / "folder_run")  # 2 classes
    from gan_runner.data.prepare import prepare_folder

    prepare_folder(root / "imgs_one", image_size=8, quiet=True)  # cached now: the case below prints no progress
    return Files(root, root / "good")


def one_error_line(code: int, err: str, message: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    assert message in lines[0], lines[0]


RUN_CASES = [
    # (overrides, with {root} = the files fixture's folder; substring of the one line)
    (["model.width=1000000"], "needs about"),
    (["dataset.image_size=65536"], "a batch of 64 images of 65536x65536 needs about"),
    (["seed=" + "9" * 30], "integer beyond 64 bits"),
    (["seed=18446744073709551616"], "integer beyond 64 bits"),
    (["trainer.max_steps=" + "9" * 5000], "integer beyond 64 bits (5000 digits)"),
    ([f"+model.{LONG}=1"], "is 5007 characters long"),
    (["dataset=image_folder", f"dataset.root={LONG}"], "file name too long"),
    (["model.width=${nosuch.key}"], "Interpolation key 'nosuch.key' not found"),
    (["trainer.resume={root}/text.txt"], "is unreadable"),
    (["trainer.resume={root}/step_abc.pt"], "its step is 'abc'"),
    (["dataset.image_size=16", "trainer.resume={root}/good"], "dataset.image_size was 8 when it was written"),
    (["optimizer.lr_d=0.001", "trainer.resume={root}/good"], "optimizer.lr_d was 0.003 when it was written"),
    (["dataset=image_folder", "dataset.root={root}/imgs_one", "dataset.image_size=8", "dataset.batch_size=2",
      "trainer.resume={root}/folder_run"], "the data's number of classes was 2 when it was written, this run's is 1"),
    (["dataset=image_folder", "dataset.root="], "dataset.root is empty"),
    (["dataset=image_folder", "dataset.root={root}/imgs_inf", "dataset.image_size=8", "dataset.batch_size=2"], "has the label inf"),
    (["dataset=image_folder", "dataset.root={root}/imgs_big", "dataset.image_size=8", "dataset.batch_size=2"],
     "has the label 1000000000000"),
    (["dataset=image_folder", "dataset.root={root}/imgs_float", "dataset.image_size=8", "dataset.batch_size=2"], "has the label 1.7"),
    (["hydra.run.dir={root}/afile/run"], "is a file, not a folder"),
]


@pytest.mark.parametrize("overrides,message", RUN_CASES, ids=[" ".join(o)[:60] for o, _ in RUN_CASES])
def test_gan_run_refuses_in_one_line(gan_run_here, files, tmp_path, overrides, message):
    args = [o.replace("{root}", str(files.root)) for o in overrides]
    run_dir = tmp_path / "run"
    base = [o for o in tiny("dcgan") if o.split("=")[0] not in {a.split("=")[0].lstrip("+") for a in args}]
    out = gan_run_here(*base, *args, *([] if any(a.startswith("hydra.run.dir") for a in args) else [f"hydra.run.dir={run_dir}"]),
                       cwd=tmp_path)
    one_error_line(out.returncode, out.stderr, message)
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "tb").exists()


def test_an_empty_dataset_root_never_means_the_current_directory(gan_run_here, files, monkeypatch):
    # from inside a folder of images, `dataset.root=` used to train on them
    out = gan_run_here(*tiny("dcgan"), "dataset=image_folder", "dataset.root=", "dataset.image_size=8", "dataset.batch_size=2",
                       f"hydra.run.dir={files / 'imgs_ok_run'}", cwd=files / "imgs_ok")
    one_error_line(out.returncode, out.stderr, "dataset.root is empty")


def sample_cases(f: Files) -> list[tuple[list[str], str]]:
    g = str(f.run)
    return [
        ([g, "--out", str(f.root), "--num", "4"], "is an existing folder"),
        ([g, "--out", str(f / "afile" / "x.npz")], "is a file, not a folder"),
        ([g, "--out", str(f / f"{LONG}.npz")], "file name too long"),
        ([g, "--out", "", "--num", "4"], "--out is empty"),
        ([g, "--grid", str(f / f"{LONG}.png")], "file name too long"),
        ([g, "--grid", str(f / "afile" / "g.png")], "is a file, not a folder"),
        ([g, "--grid", str(f / "g.png"), "--grid-size", "-4"], "--grid-size must be between 1"),
        ([g, "--grid", str(f / "g0.png"), "--grid-size", "0"], "--grid-size must be between 1"),
        ([g, "--grid", str(f / "g.png"), "--seed", "9" * 30], "at most 64 bits"),
        ([g, "--grid", str(f / "g.png"), "--num", "many"], "invalid int value"),  # argparse's errors are one line too
        ([g, "--out", str(f / "huge.npz"), "--num", "1000000000000"], "--num 1000000000000 samples needs about"),
        ([str(f / "text.txt"), "--grid", str(f / "g.png")], "is unreadable"),
        ([str(f / "step_abc.pt"), "--grid", str(f / "g.png")], "its step is 'abc'"),
    ]


def test_gan_sample_refuses_in_one_line(files, capfd):
    from gan_runner.cli.sample import main

    for argv, message in sample_cases(files):
        one_error_line(*call_main(main, argv, capfd), message)
    assert not (files / "g0.png").exists() and not (files / "huge.npz").exists()


def test_gan_eval_refuses_in_one_line(files, capfd):
    from gan_runner.cli.eval import main

    g = str(files.run)
    for argv, message in [
        ([g, "--json", str(files.root), "--num", "10"], "is an existing folder"),
        ([g, "--json", str(files / "afile" / "e.json"), "--num", "10"], "is a file, not a folder"),
        ([g, "--json", str(files / f"{LONG}.json"), "--num", "10"], "file name too long"),
        ([str(files / "text.txt"), "--num", "10"], "is unreadable"),
        ([str(files / "step_abc.pt"), "--num", "10"], "its step is 'abc'"),
        ([g, "--seed", "-" + "9" * 30, "--num", "10"], "at most 64 bits"),
    ]:
        one_error_line(*call_main(main, argv, capfd), message)


def test_gan_report_refuses_in_one_line(files, capfd):
    from gan_runner.cli.report import main

    for argv, message in [
        ([str(files / "rep_broken")], "is not valid JSON"),
        ([str(files / "rep_list")], "expected an object, got list"),
        ([str(files / "rep_final")], "'final' must be an object"),
        ([str(files / "rep_surrogate")], "not valid Unicode"),  # found by tests/test_fuzz.py
        ([str(files / "ov_num")], "expected a list of strings, got int"),
        ([str(files / "ov_bad")], "is not a Hydra overrides file"),
        ([str(files / "ov_py")], "is not a Hydra overrides file"),
        ([str(files.run), "--out", str(files / "afile")], "is an existing file"),
        ([str(files.run), "--out", str(files / LONG)], "file name too long"),
        ([str(files.run), "--out", str(files / "afile" / "sub")], "is a file, not a folder"),
    ]:
        one_error_line(*call_main(main, argv, capfd), message)
    assert not Path("pwned").exists()


def test_gan_prepare_refuses_in_one_line(files, capfd):
    from gan_runner.cli.prepare import main

    for argv, message in [
        ([str(files / "imgs_ok"), "--out", str(files / "afile")], "is an existing file"),
        ([str(files / "imgs_ok"), "--out", str(files / LONG)], "file name too long"),
        ([str(files / "imgs_inf"), "--out", str(files / "p_inf")], "has the label inf"),
        ([str(files / "imgs_big"), "--out", str(files / "p_big")], "has the label 1000000000000"),
        ([str(files / "imgs_float"), "--out", str(files / "p_float")], "has the label 1.7"),
        ([str(files / LONG)], "file name too long"),
        ([""], "empty path"),
    ]:
        one_error_line(*call_main(main, [*argv, "--image-size", "8", "--workers", "1", "--quiet"], capfd), message)
    assert not (files / "p_inf").exists()


def test_loading_a_run_for_sampling_never_downloads_or_creates_folders(files, capfd, tmp_path):
    from gan_runner.cli.sample import main

    ckpt = torch.load(files.run / "checkpoints" / "last.pt", weights_only=True)
    ckpt["config"]["dataset"].update(name="mnist", root=str(tmp_path / "data_root"), download=True)
    torch.save(ckpt, tmp_path / "download.pt")
    code, err = call_main(main, [str(tmp_path / "download.pt"), "--grid", str(tmp_path / "g.png")], capfd)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["download.pt", "g.png"], "no data root, no download"
    ckpt.pop("spec")  # a checkpoint from before they recorded the data's shapes: the dataset is read, offline
    torch.save(ckpt, tmp_path / "download.pt")
    code, err = call_main(main, [str(tmp_path / "download.pt"), "--grid", str(tmp_path / "g2.png")], capfd)
    one_error_line(code, err, "put the files there")
    assert not (tmp_path / "data_root").exists()


def test_a_bug_stays_a_traceback_with_exit_1_and_a_line_asking_to_report_it(gan_run_here, files, tmp_path, monkeypatch, capfd):
    from gan_runner import run as run_mod
    from gan_runner.cli import sample

    def broken(*args, **kwargs):
        return {}["a bug in our own code"]  # KeyError: not the user's to fix

    monkeypatch.setattr(run_mod, "build_run", broken)
    out = gan_run_here(*tiny("dcgan"), f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 1 and "Traceback" in out.stderr and "KeyError" in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error: this is a bug in gan-runner (unexpected KeyError); please report")
    monkeypatch.setattr(sample, "load_for_cli", broken)
    code, err = call_main(sample.main, [str(files.run), "--grid", str(tmp_path / "g.png")], capfd)
    assert code == 1 and "Traceback" in err and "this is a bug in gan-runner" in err


def test_a_sweep_job_that_cannot_be_composed_or_has_a_bad_value_fails_alone(gan_run_here, tmp_path):
    # Hydra composes every job before launching any: `model=nosuch` used to end the sweep (exit 2) before job 0 ran;
    # a seed beyond 64 bits fails its own job, not the sweep
    sweep = tmp_path / "sweep"
    huge = "99999999999999999999999"
    out = gan_run_here("-m", *[o for o in tiny("dcgan") if not o.startswith("model=")], "model=nosuch,dcgan", f"seed=0,{huge}",
                       "trainer.max_steps=2", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    dirs = [next(sweep.glob(f"{job}_*")) for job in range(4)]  # job dirs are named by their overrides: 0_model=...
    jobs = [json.loads((d / "metrics.json").read_text()) for d in dirs]  # (nosuch|dcgan) x (0|huge)
    assert [j["status"] for j in jobs] == ["failed", "failed", "completed", "failed"]
    assert jobs[0]["reason"] == "unknown model 'nosuch' (choices: acgan, cgan, dcgan, gan, infogan, sngan)"
    assert "seed must be an integer of at most 64 bits" in jobs[3]["reason"]
    assert "- model=nosuch" in (dirs[0] / ".hydra" / "overrides.yaml").read_text()
    assert not any((dirs[job] / "checkpoints").exists() for job in (0, 1, 3))
