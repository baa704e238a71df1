"""The lecture, live: `python scripts/demo.py [--share] [--port N]` serves one Gradio app with a tab per
system (seqgen.app.demo). Models are found under --outputs; tiny-shakespeare is cached under --data-root."""

import argparse
import sys
import threading
from pathlib import Path

from seqgen.app.demo import DemoContext, Limits, launch
from seqgen.core.errors import SeqgenError


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=None, help="port (default: gradio's, 7860 or the next free one)")
    p.add_argument("--share", action="store_true", help="also serve through a temporary public gradio link")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: the whole network)")
    p.add_argument("--outputs", default="outputs", help="where to look for checkpoints (default: outputs)")
    p.add_argument("--data-root", default="data", help="where corpora are cached (default: data)")
    p.add_argument("--max-mb", type=float, default=20, help="largest upload in MiB (default: 20)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per request (default 1: two requests "
                                                          "run at once, one per core of a 2-core machine)")
    args = p.parse_args(argv)
    ctx = DemoContext(outputs=Path(args.outputs), data_root=Path(args.data_root),
                      limits=Limits(max_bytes=int(args.max_mb * 2 ** 20)), threads=args.threads)
    try:
        _, url = launch(ctx, port=args.port, share=args.share, host=args.host, prevent_thread_lock=True)
    except SeqgenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"[seqgen] the demo is at {url} (Ctrl-C stops it)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
