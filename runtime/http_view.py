"""Live view in a browser: the rendered frames as MJPEG plus the run's statistics, from the stdlib server.

    /              the page (stream + statistics polled once a second)
    /stream.mjpg   multipart/x-mixed-replace JPEG stream, newest frame first (slow clients skip frames)
    /frame.jpg     the latest frame
    /stats.json    the latest statistics snapshot

Binds to the URI's host (127.0.0.1 when none is given); binding elsewhere exposes the video to the network,
so it prints a warning. Frames are JPEG-encoded only while someone is watching.
"""

from __future__ import annotations

import ipaddress
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import cv2
import numpy as np

from segnet.errors import SegnetError
from segnet.runtime.sinks import Sink, SinkFrame

BOUNDARY = "segnetframe"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>segnet live</title>
<style>body{font-family:sans-serif;background:#111;color:#ddd;margin:1em}img{max-width:100%;background:#000}
#stats{font-family:monospace;white-space:pre;margin-top:.5em}</style></head>
<body><h3>segnet live view</h3>
<img id="view" src="/stream.mjpg" alt="live segmentation">
<div id="stats">waiting for statistics...</div>
<script>
const view = document.getElementById('view');
view.addEventListener('load', () => {
  document.title = 'segnet live: frame ' + view.naturalWidth + 'x' + view.naturalHeight;
  document.body.dataset.frame = 'loaded';
});
function fmt(v) { return (typeof v === 'number') ? v.toFixed(1) : '-'; }
async function poll() {
  try {
    const s = await (await fetch('/stats.json', {cache: 'no-store'})).json();
    document.getElementById('stats').textContent =
      'frames out ' + (s.frames_out ?? '-') + '   dropped ' + (s.dropped ?? '-') + '   skipped ' + (s.skipped ?? '-') +
      '\\nend-to-end FPS ' + fmt(s.end_to_end_fps) + '   network FPS ' + fmt(s.network_fps) +
      '\\nend-to-end latency p50 ' + fmt(s.latency_p50_ms) + ' ms   p99 ' + fmt(s.latency_p99_ms) + ' ms';
  } catch (e) { /* the run may have ended */ }
}
setInterval(poll, 1000); poll();
</script></body></html>
"""


def parse_address(uri: str) -> tuple[str, int]:
    """http://HOST:PORT -> (host, port); host 127.0.0.1 and port 8080 when left out; port 0 = any free."""
    parts = urlsplit(uri)
    try:
        port = parts.port if parts.port is not None else 8080
    except ValueError:
        raise SegnetError(f"{uri}: bad port") from None
    return parts.hostname or "127.0.0.1", port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HttpSink(Sink):
    """Serves the latest rendered frame and statistics over HTTP while the run goes on."""

    def __init__(self, uri: str, quality: int = 80) -> None:
        super().__init__(uri)
        host, port = parse_address(uri)
        self.quality = quality
        self.condition = threading.Condition()
        self.image: np.ndarray | None = None
        self.sequence = 0
        self.stats: dict[str, Any] = {}
        self.closed = False
        if not is_loopback(host):
            print(f"segnet: warning: the live view binds to {host}, reachable from the network; anyone who can "
                  "reach it sees the video (use 127.0.0.1 to keep it local)", file=sys.stderr)
        try:
            self.server = ThreadingHTTPServer((host, port), _handler(self))
        except OSError as exc:
            raise SegnetError(f"{uri}: cannot listen on {host}:{port} ({exc.strerror or exc})") from None
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, name="segnet-http", daemon=True)
        self.thread.start()
        print(f"segnet: live view at {self.url}", file=sys.stderr)

    def write(self, frame: SinkFrame) -> None:
        image = frame.image.copy()  # the pipeline reuses its buffers; the page encodes this one later
        with self.condition:
            self.image = image
            self.sequence += 1
            self.condition.notify_all()
        self.written += 1

    def update_stats(self, stats: dict[str, Any]) -> None:
        self.stats = dict(stats)

    def next_jpeg(self, after: int) -> tuple[int, bytes | None]:
        """Wait (up to 1 s) for a frame newer than `after`; returns (sequence, JPEG) or (after, None)."""
        with self.condition:
            self.condition.wait_for(lambda: self.sequence > after or self.closed, timeout=1.0)
            if self.sequence <= after or self.image is None:
                return after, None
            sequence, image = self.sequence, self.image
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        return sequence, (data.tobytes() if ok else None)

    def close(self) -> None:
        if self.closed:
            return
        with self.condition:
            self.closed = True
            self.condition.notify_all()
        self.server.shutdown()
        self.server.server_close()

    def describe(self) -> str:
        return f"{self.url} (live view)"


def _handler(sink: HttpSink) -> type:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep the terminal for the status line
            pass

        def _send(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path in ("/", "/index.html"):
                self._send(PAGE.encode(), "text/html; charset=utf-8")
            elif path == "/stats.json":
                self._send(json.dumps(sink.stats, default=str).encode(), "application/json")
            elif path == "/frame.jpg":
                _, jpeg = sink.next_jpeg(sink.sequence - 1)
                if jpeg is None:
                    self.send_error(503, "no frame yet")
                else:
                    self._send(jpeg, "image/jpeg")
            elif path == "/stream.mjpg":
                self._stream()
            else:
                self.send_error(404)

        def _stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            sequence = 0
            try:
                while not sink.closed:
                    sequence, jpeg = sink.next_jpeg(sequence)
                    if jpeg is None:
                        continue
                    self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}"
                                     "\r\n\r\n".encode() + jpeg + b"\r\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the viewer went away

    return Handler
