"""Where the survey comes from: the embedded snapshot by default; the live download (against a local HTTP server
on 127.0.0.1 serving the snapshot as the live sheet exports it); imports into the cache."""

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
from conftest import SNAPSHOT

from salarynet.data import source
from salarynet.errors import DataError
from salarynet.rows import select_rows


@pytest.fixture
def server(monkeypatch):
    """Serves `server.body` at /survey.csv (or `server.status`); counts the requests."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state.requests += 1
            self.send_response(state.status)
            self.send_header("Content-Type", "text/csv")
            self.end_headers()
            if state.status == 200:
                self.wfile.write(state.body)

        def log_message(self, *args):
            pass

    class State:
        requests, status, body = 0, 200, b""

    state = State()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("SALARYNET_SURVEY_URL", f"http://127.0.0.1:{httpd.server_port}/survey.csv")
    yield state
    httpd.shutdown()
    httpd.server_close()


def live_export(snapshot) -> bytes:
    """The snapshot as the live sheet exports it: plain CSV, early salaries as '55,000'."""
    raw = pd.read_csv(SNAPSHOT, dtype=str)
    salary = raw.columns[5]
    raw.loc[:999, salary] = raw.loc[:999, salary].map(lambda s: f"{int(s):,}")
    return raw.to_csv(index=False).encode()


def test_download_once_then_reuse_the_cache(server, snapshot, short_recipe):
    server.body = live_export(snapshot)
    assert b'"55,000"' in server.body
    survey, record = source.open_survey("live")
    assert server.requests == 1
    assert record["source"] == "live" and record["origin"].startswith("http://127.0.0.1:")
    assert record["rows"] == len(snapshot.frame)
    assert record["sha256"] == hashlib.sha256(server.body).hexdigest() and record["fetched_at"]
    # Salaries written with thousands separators keep the same rows as the snapshot's plain numbers.
    assert select_rows(survey, short_recipe).rows == select_rows(snapshot, short_recipe).rows
    again, record2 = source.open_survey("live")
    assert server.requests == 1 and record2["sha256"] == record["sha256"]
    assert source.cached()["file"] == record["file"]


def test_a_page_that_is_not_the_survey_is_refused_and_not_cached(server):
    server.body = b"<html><body>Sign in to continue</body></html>\n"
    with pytest.raises(
        DataError, match=r"the download from http://127\.0\.0\.1:\d+/survey\.csv is not a survey export"
    ):
        source.open_survey("live")
    assert source.cached() is None
    assert not list(source.cache_dir().glob("survey*")) and not list(source.cache_dir().glob(".download-*"))


def test_http_errors_name_the_way_out(server):
    server.status = 404
    with pytest.raises(
        DataError,
        match=r"could not download the survey .*Not Found.*the embedded snapshot needs no "
        r"internet: leave out --data \(or --data embedded\), or pass --data FILE",
    ):
        source.open_survey("live")


def test_import_replaces_the_cached_copy(server, snapshot, tmp_path):
    server.body = live_export(snapshot)
    source.open_survey("live")
    from conftest import TIDY

    record = source.import_file(TIDY)
    assert record["rows"] == 200 and record["origin"] == f"imported from {TIDY.resolve()}"
    assert sorted(p.name for p in source.cache_dir().iterdir()) == ["survey.csv", "survey.json"]
    assert source.open_survey("live")[1]["rows"] == 200


def test_the_default_is_both_embedded_snapshots_byte_for_byte(server):
    for year, digest, rows, schema in ((2021, SHIPPED_SHA256, 23783, "form"), (2023, SHIPPED_2023, 13711, "form-2023")):
        path = source.embedded_path(year)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest == source.embedded_record(year)["sha256"]
        survey, record = source.open_survey(f"embedded:{year}")
        assert record["rows"] == source.embedded_record(year)["rows"] == len(survey.frame) == rows
        assert record["sha256"] == digest and survey.schema == schema and record["years"] == {str(year): rows}
        assert "of a public copy" in record["description"]  # each says it is a part of its public copy
    survey, record = source.open_survey(None)
    assert server.requests == 0  # no network, no cache
    assert not source.cache_dir().exists()
    assert record["source"] == "embedded" and record["years"] == {"2021": 23783, "2023": 13711}
    assert [p["sha256"] for p in record["parts"]] == [SHIPPED_SHA256, SHIPPED_2023]
    assert record["rows"] == len(survey.frame) == 23783 + 13711
    assert survey.frame["survey_year"].value_counts().to_dict() == {"2021": 23783, "2023": 13711}
    assert source.open_survey("embedded")[1]["sha256"] == record["sha256"]
    assert source.open_survey(None, [2021])[1]["sha256"] == SHIPPED_SHA256  # a recipe's data.years


# The snapshots the package must ship, byte for byte (the shared data folder's README names these digests).
SHIPPED_SHA256 = "f109a4f9fce207c2fe59a5cf2a343f3a16efcbce1c05ca491098c8aab9941ba1"
SHIPPED_2023 = "424f885f1fbb1f6a97ddfcbc4d2f8e3616c0a5fd77702ea1bd7e61354c1d4524"


def test_a_changed_embedded_snapshot_is_refused(monkeypatch, tmp_path):
    copy = tmp_path / "snapshot.csv.gz"
    copy.write_bytes(source.embedded_path().read_bytes()[:-10])
    monkeypatch.setattr(source, "embedded_path", lambda year=2021: copy)
    with pytest.raises(
        DataError,
        match=r"snapshot\.csv\.gz: the survey snapshot shipped with salarynet is missing or "
        r"changed .*reinstall salarynet, or pass --data FILE",
    ):
        source.open_survey(None)


def test_the_compile_cache_has_a_folder_per_processor(monkeypatch, tmp_path):
    """A compiled program is never handed to another instruction set: JAX's cache key holds XLA_FLAGS, not the
    processor, so each processor's programs live in a folder of their own."""
    monkeypatch.setenv("SALARYNET_COMPILE_CACHE", str(tmp_path / "xla"))
    here = source.compile_cache_dir()
    assert here.parent == tmp_path / "xla" and here.name == source.machine_key()
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    real_open = open

    def cpuinfo(flags: str):
        def fake(path, *args, **kwargs):
            if str(path) == "/proc/cpuinfo":
                import io

                return io.StringIO(f"processor\t: 0\nflags\t\t: {flags}\n")
            return real_open(path, *args, **kwargs)

        return fake

    monkeypatch.setattr("builtins.open", cpuinfo("fpu sse4_2 avx avx2 fma"))
    avx2 = source.machine_key()
    monkeypatch.setattr("builtins.open", cpuinfo("fpu sse4_2 avx avx2 fma avx512f"))
    assert source.machine_key() != avx2
    monkeypatch.setattr("builtins.open", cpuinfo("fma avx2 avx fpu sse4_2"))  # the order of the flags is no matter
    assert source.machine_key() == avx2
    monkeypatch.setenv("SALARYNET_COMPILE_CACHE", "off")
    assert source.compile_cache_dir() is None
