"""The download path, against a local HTTP server on 127.0.0.1 serving the shared snapshot."""

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
from conftest import SNAPSHOT

from salarynet import pipeline, source
from salarynet.errors import DataError


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
    survey, record = source.open_survey(None)
    assert server.requests == 1
    assert record["source"].startswith("http://127.0.0.1:") and record["rows"] == len(snapshot.frame)
    assert record["sha256"] == hashlib.sha256(server.body).hexdigest() and record["fetched_at"]
    # Salaries written with thousands separators keep the same rows as the snapshot's plain numbers.
    assert pipeline.select_rows(survey, short_recipe).rows == pipeline.select_rows(snapshot, short_recipe).rows
    again, record2 = source.open_survey(None)
    assert server.requests == 1 and record2["sha256"] == record["sha256"]
    assert source.cached()["file"] == record["file"]


def test_a_page_that_is_not_the_survey_is_refused_and_not_cached(server):
    server.body = b"<html><body>Sign in to continue</body></html>\n"
    with pytest.raises(DataError, match=r"the download from http://127\.0\.0\.1:\d+/survey\.csv is not a survey export"):
        source.open_survey(None)
    assert source.cached() is None
    assert not list(source.cache_dir().glob("survey*")) and not list(source.cache_dir().glob(".download-*"))


def test_http_errors_name_the_way_out(server):
    server.status = 404
    with pytest.raises(DataError, match=r"could not download the survey .*Not Found.*pass --data FILE, or run `salarynet data import FILE`"):
        source.open_survey(None)


def test_import_replaces_the_cached_copy(server, snapshot, shared, tmp_path):
    server.body = live_export(snapshot)
    source.open_survey(None)
    from conftest import TIDY

    record = source.import_file(TIDY)
    assert record["rows"] == 200 and record["source"] == f"imported from {TIDY.resolve()}"
    assert sorted(p.name for p in source.cache_dir().iterdir()) == ["survey.csv", "survey.json"]
    assert source.open_survey(None)[1]["rows"] == 200
