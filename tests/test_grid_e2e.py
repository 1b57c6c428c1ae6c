"""The grid scripts end to end at smoke scale: an uninterrupted grid, a grid SIGKILLed mid-way and
rerun on Ray Tune (same trial ids, same scores), Figs. 3 and 4 reusing the trials, the report in
headless Chromium, and bad input."""

import functools
import html
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

import report_checks
from script_checks import assert_missing_data_error, assert_one_line_error

REPRODUCTIONS = Path(__file__).resolve().parents[1] / "reproductions"
SMOKE_TRIALS = 8
# Columns that describe where and how fast a trial ran, not what it computed.
TIMING_COLUMNS = ["wall_time_s"]


def _command(script, output_dir, *flags):
    return [sys.executable, str(REPRODUCTIONS / script), "--scale=smoke",
            f"--output_dir={output_dir}", *flags]


def _run(script, output_dir, *flags, timeout=600):
    return subprocess.run(_command(script, output_dir, *flags), capture_output=True, text=True,
                          timeout=timeout, env=_env())


@functools.cache
def _env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def _finished(output_dir):
    return sorted(p.parent.name for p in Path(output_dir).glob("trials/*/result.json"))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, mnist_data_dir):
    """A smoke grid run start to finish, in this process's stead (inline executor)."""
    output_dir = tmp_path_factory.mktemp("uninterrupted") / "grid"
    out = _run("fig2_grid_search.py", output_dir, f"--data_dir={mnist_data_dir}",
               "--executor=inline")
    assert out.returncode == 0, out.stderr[-3000:]
    return output_dir


def _scores(output_dir):
    frame = pd.read_csv(Path(output_dir) / "results.csv")
    return frame.drop(columns=TIMING_COLUMNS).sort_values("trial_id").reset_index(drop=True)


def test_sigkilled_grid_reruns_on_ray_to_the_uninterrupted_results(uninterrupted, tmp_path,
                                                                    mnist_data_dir):
    output_dir = tmp_path / "grid"
    process = subprocess.Popen(_command("fig2_grid_search.py", output_dir,
                                        f"--data_dir={mnist_data_dir}"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=_env(), start_new_session=True)
    deadline = time.monotonic() + 300
    while len(_finished(output_dir)) < 2:
        assert process.poll() is None, process.stderr.read()[-3000:]
        assert time.monotonic() < deadline, "the grid finished no trial in 5 minutes"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # The driver, and every worker of its session.
    process.wait()
    # A Ray worker outside the killed session can finish the trial it holds a moment later (an
    # atomic result.json, so never half a trial): wait until the folder stops changing.
    done_at_kill, stable_since = _finished(output_dir), time.monotonic()
    while time.monotonic() - stable_since < 3 and time.monotonic() < deadline + 30:
        time.sleep(0.5)
        now = _finished(output_dir)
        if now != done_at_kill:
            done_at_kill, stable_since = now, time.monotonic()
    assert 2 <= len(done_at_kill) < SMOKE_TRIALS, done_at_kill
    assert not (output_dir / "results.csv").exists() and not (output_dir / "index.html").exists()

    rerun = _run("fig2_grid_search.py", output_dir, f"--data_dir={mnist_data_dir}")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"{len(done_at_kill)} finished, {SMOKE_TRIALS - len(done_at_kill)} to run" in rerun.stdout
    pd.testing.assert_frame_equal(_scores(output_dir), _scores(uninterrupted))
    assert (_scores(output_dir)["status"] == "ok").all()
    # --save_generators=best: exactly the best trial of each kind keeps its generator.
    kept = sorted(p.parent.name for p in output_dir.glob("trials/*/generator.keras"))
    frame = _scores(output_dir)
    best = sorted(frame.sort_values(["log_is", "trial_id"], ascending=[False, True])
                  .groupby("kind").head(1)["trial_id"])
    assert kept == best
    assert not list(output_dir.glob(".tune-*"))  # Ray Tune's scratch is cleaned up.


def test_fig3_and_fig4_reuse_the_grid_without_training(uninterrupted, mnist_data_dir):
    before = {t: (uninterrupted / "trials" / t / "result.json").stat().st_mtime_ns
              for t in _finished(uninterrupted)}
    for script, page in (("fig3_optimizer_histograms.py", "fig3.html"),
                         ("fig4_best_samples.py", "fig4.html")):
        out = _run(script, uninterrupted, f"--data_dir={mnist_data_dir}")
        assert out.returncode == 0, out.stderr[-3000:]
        assert f"{SMOKE_TRIALS} finished, 0 to run" in out.stdout
        assert (uninterrupted / page).is_file()
    after = {t: (uninterrupted / "trials" / t / "result.json").stat().st_mtime_ns
             for t in _finished(uninterrupted)}
    assert after == before


def test_more_seeds_reuse_the_first_seeds_trials_and_report_their_spread(
        uninterrupted, mnist_data_dir, tmp_path):
    output_dir = tmp_path / "grid"
    shutil.copytree(uninterrupted, output_dir)
    out = _run("fig2_grid_search.py", output_dir, f"--data_dir={mnist_data_dir}",
               "--executor=inline", "--num_seeds=2")
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"{2 * SMOKE_TRIALS} runs: {SMOKE_TRIALS} finished, {SMOKE_TRIALS} to run" in out.stdout
    frame = pd.read_csv(output_dir / "results.csv")
    assert frame.groupby("seed").size().to_dict() == {0: SMOKE_TRIALS, 1: SMOKE_TRIALS}
    page = (output_dir / "index.html").read_text()
    assert "range over seeds, %" in page and "in each of the 2 seeds" in page
    assert re.search(r"(yes|no): in \d of 2 seeds", page)
    assert json.loads((output_dir / "runs.jsonl").read_text().splitlines()[-1])["num_seeds"] == 2


def test_report_has_the_figures_tables_and_provenance(uninterrupted):
    page = (uninterrupted / "index.html").read_text()
    for text in ("Figure 2", "Figure 3", "Figure 4", "Settings the paper is silent on",
                 "Provenance", "git_commit", "bins 1-3 (paper), %", "56/29/7", "Claim:"):
        assert text in page, text
    assert page.count("data:image/png;base64,") == 3
    for png in ("fig2.png", "fig3.png", "fig4.png"):
        assert (uninterrupted / png).stat().st_size > 10_000


def test_report_settings_table_states_what_the_trials_used(uninterrupted):
    config = json.loads(next(uninterrupted.glob("trials/*/config.json")).read_text())["config"]
    report_checks.assert_settings_match(uninterrupted / "index.html", config)
    assert {"adam_beta1", "batch_size", "noise_dim", "dropout_rate", "sgd_momentum"} <= set(
        report_checks.settings_table(uninterrupted / "index.html"))


def test_tensorboard_holds_each_trials_hparams_and_scores(uninterrupted):
    import tensorflow as tf

    result = json.loads(next(uninterrupted.glob("trials/*/result.json")).read_text())
    tags = set()
    for events in (uninterrupted / "trials" / result["trial_id"] / "tensorboard").glob("events.*"):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            tags.update(value.tag for value in event.summary.value)
    assert {"_hparams_/session_start_info", "log_is", "frechet_distance", "d_loss"} <= tags


# --- the report in a browser -----------------------------------------------------------------

# Loads the report in an iframe (same origin), waits for every image, and writes what it found.
_CHECK_PAGE = b"""<!DOCTYPE html><html><body>
<iframe id="report" src="/index.html" width="1200" height="900"></iframe><script>
document.getElementById("report").addEventListener("load", () => {
  const doc = document.getElementById("report").contentDocument;
  const images = Array.from(doc.images);
  Promise.all(images.map(img => img.complete ? Promise.resolve() :
      new Promise(done => { img.onload = done; img.onerror = done; }))).then(() => {
    const out = document.createElement("pre");
    out.id = "result";
    out.textContent = JSON.stringify({title: doc.title, images: images.length,
        loaded: images.filter(img => img.naturalWidth > 0 && img.naturalHeight > 0).length});
    document.body.appendChild(out);
  });
});
</script></body></html>"""


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get("CI"):
        pytest.fail("headless Chromium is missing; .ci/run installs Debian's chromium")
    pytest.skip("headless Chromium is not installed (apt-get install chromium); CI installs it")


def test_report_images_load_in_headless_chromium(uninterrupted, tmp_path):
    browser = _chromium()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/__check__.html":
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(_CHECK_PAGE)
            else:
                super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(uninterrupted)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=15000", "--dump-dom",
             f"http://127.0.0.1:{server.server_address[1]}/__check__.html"],
            capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
    match = re.search(r'<pre id="result">(.*?)</pre>', out.stdout, re.S)
    assert match, f"the check page did not finish: {out.stderr[-2000:]}"
    result = json.loads(html.unescape(match.group(1)))
    assert result["title"].startswith("EBGAN Figs. 2-4")
    assert result["images"] == 3 and result["loaded"] == 3, result


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("flags, message", [
    (["--scale=huge"], "--scale"),
    (["--margin=-1"], "--margin"),
    (["--save_generators=some"], "--save_generators"),
    (["stray_argument"], "unexpected arguments"),
])
def test_bad_flags_are_one_line_errors(tmp_path, flags, message):
    out = subprocess.run([sys.executable, str(REPRODUCTIONS / "fig2_grid_search.py"), *flags,
                          f"--output_dir={tmp_path / 'out'}"], capture_output=True, text=True,
                         timeout=120, env=_env())
    assert_one_line_error(out, message, tmp_path / "out")


def test_missing_data_is_a_one_line_error_and_writes_nothing(tmp_path):
    out = subprocess.run([sys.executable, str(REPRODUCTIONS / "fig2_grid_search.py"),
                          f"--data_dir={tmp_path}", "--data_source=local",
                          f"--output_dir={tmp_path / 'out'}"], capture_output=True, text=True,
                         timeout=120, env=_env())
    assert_missing_data_error(out, tmp_path / "out")
