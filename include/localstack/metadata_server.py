"""A loopback stand-in for the GCE metadata server, so ``google.auth.default()`` finds credentials.

Beam's Google IO calls ``google.auth.default()`` even when every request goes to an emulator;
offline that lookup fails. Pointing ``GCE_METADATA_HOST``/``GCE_METADATA_IP`` at this server gives
it a dummy token that only ever travels to the local emulators. Local profile only.
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def make_handler(project: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/")
            if path.endswith("/token"):
                body: object = {"access_token": "local-emulator-token", "expires_in": 3600, "token_type": "Bearer"}
            elif path.endswith("/service-accounts/default"):
                body = {
                    "email": "default",
                    "aliases": ["default"],
                    "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
                }
            elif path.endswith("/email"):
                body = "default"
            elif path.endswith("/project/project-id"):
                body = project
            elif path.endswith("/scopes"):
                body = "https://www.googleapis.com/auth/cloud-platform"
            else:
                body = ""
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
            self.send_response(200)
            self.send_header("Metadata-Flavor", "Google")
            self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--project", required=True)
    args = parser.parse_args()
    ThreadingHTTPServer((args.host, args.port), make_handler(args.project)).serve_forever()


if __name__ == "__main__":
    main()
