"""The comparison peer: seed 000's monitoring page, built the way its documents describe.

Flask + Flask-SocketIO, a Flask-Login sign-in, a connect handler that refuses anyone not
signed in, and one background task that samples this machine and emits the same payload
as Lookout's `samples` frame to every socket each second. The server is eventlet, the
async mode Flask-SocketIO's documentation names as the best performing, started with
`socketio.run`, which its deployment guide gives as production-ready when eventlet is
installed.

    PEER_PASSWORD=... python app.py --port 5000    (loopback only)

eventlet now calls itself deprecated (bug fixes only), but Flask-SocketIO's documentation
still names it first and as the best performing choice, so the peer uses it.
"""

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

import argparse  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402

import psutil  # noqa: E402
from flask import Flask, abort, request  # noqa: E402
from flask_login import LoginManager, UserMixin, current_user, login_user  # noqa: E402
from flask_socketio import SocketIO  # noqa: E402
from werkzeug.security import check_password_hash, generate_password_hash  # noqa: E402

app = Flask(__name__)
app.config["SECRET_KEY"] = os.urandom(32)
app.config["SESSION_COOKIE_HTTPONLY"] = True
app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
login_manager = LoginManager(app)
socketio = SocketIO(app, async_mode="eventlet", logger=False, engineio_logger=False)

USERNAME = "admin"
PASSWORD_HASH = generate_password_hash(os.environ["PEER_PASSWORD"])


class User(UserMixin):
    id = USERNAME


@login_manager.user_loader
def load_user(user_id):
    return User() if user_id == USERNAME else None


@app.post("/login")
def login():
    if request.form.get("username") == USERNAME and check_password_hash(
        PASSWORD_HASH, request.form.get("password", "")
    ):
        login_user(User())
        return "", 204
    abort(401)


@app.get("/healthz")
def healthz():
    return "ok"


@socketio.on("connect")
def on_connect(auth=None):
    # Login-gated connect: a socket without a signed-in session is refused.
    if not current_user.is_authenticated:
        return False
    return None


def name_part(raw):
    trimmed = raw.strip("/")
    if not trimmed:
        return "root"
    return re.sub(r"[^a-z0-9._-]", "_", trimmed.lower())[:32]


def sample(prev, secs):
    """The series Lookout's own sampler publishes, read with psutil."""
    v = {"cpu.total": psutil.cpu_percent()}
    for i, pct in enumerate(psutil.cpu_percent(percpu=True)):
        v[f"cpu.core.{i}"] = pct
    mem = psutil.virtual_memory()
    v["mem.used"] = float(mem.total - mem.available)
    v["mem.total"] = float(mem.total)
    v["mem.used_pct"] = v["mem.used"] * 100.0 / mem.total if mem.total else 0.0
    v["swap.used"] = float(psutil.swap_memory().used)
    v["load.1"], v["load.5"], v["load.15"] = os.getloadavg()
    net = psutil.net_io_counters(pernic=True)
    rx = tx = 0.0
    for iface, c in net.items():
        old = prev["net"].get(iface, c)
        r = (c.bytes_recv - old.bytes_recv) / secs
        t = (c.bytes_sent - old.bytes_sent) / secs
        if iface != "lo":
            rx, tx = rx + r, tx + t
        v[f"net.{name_part(iface)}.rx"] = r
        v[f"net.{name_part(iface)}.tx"] = t
    v["net.rx"], v["net.tx"] = rx, tx
    io = psutil.disk_io_counters(perdisk=True)
    read = written = 0.0
    for part in psutil.disk_partitions():
        mount = name_part(part.mountpoint)
        try:
            usage = psutil.disk_usage(part.mountpoint)
            v[f"disk.{mount}.used_pct"] = usage.percent
        except OSError:
            pass
        dev = os.path.basename(part.device)
        if dev in io:
            old = prev["io"].get(dev, io[dev])
            r = (io[dev].read_bytes - old.read_bytes) / secs
            w = (io[dev].write_bytes - old.write_bytes) / secs
            read, written = read + r, written + w
            v[f"disk.{mount}.read"], v[f"disk.{mount}.write"] = r, w
    v["disk.read"], v["disk.write"] = read, written
    v["procs.count"] = float(len(psutil.pids()))
    v["uptime"] = float(int(time.time() - psutil.boot_time()))
    prev["net"], prev["io"] = net, io
    return v


def publisher(host):
    """The background thread: sample, then emit one frame to every socket, each second."""
    prev = {"net": {}, "io": {}}
    last = time.monotonic()
    while True:
        socketio.sleep(1)
        now = time.monotonic()
        values = sample(prev, max(now - last, 0.001))
        last = now
        payload = {
            "type": "samples",
            "host": host,
            "ts": int(time.time() * 1000),
            "values": values,
        }
        socketio.emit("samples", payload)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--max-connections", type=int, default=20_000)
    args = parser.parse_args()
    psutil.cpu_percent(percpu=True)
    host = name_part(socket.gethostname())
    socketio.start_background_task(publisher, host)
    # Loopback only: this peer exists to be measured, never to be exposed. eventlet's WSGI
    # server serves at most 1,024 connections at once by default (`max_size`); it is raised
    # so that the peer is measured by its speed, not by that setting.
    socketio.run(
        app, host="127.0.0.1", port=args.port, log_output=False, max_size=args.max_connections
    )
