"""(c) The original uploader's method: hold the whole archive, gzip it at level 9 in one
call, build the whole multipart body in memory, then POST it.
    python3 bench/original.py FILE URL KEY IMAGE
"""
import gzip
import json
import sys
import urllib.request
import uuid


def main() -> None:
    path, url, key, image = sys.argv[1:5]
    with open(path, "rb") as f:
        data = f.read()
    compressed = gzip.compress(data, compresslevel=9)
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="target_image"\r\n\r\n{image}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="context"; filename="image.tar.gz"\r\n'
        "Content-Type: application/gzip\r\n\r\n"
    ).encode()
    body = head + compressed + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(
        url.rstrip("/") + "/build",
        data=body,
        method="POST",
        headers={"X-API-Key": key, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(req, timeout=300) as res:
        print(json.loads(res.read())["build_id"])


main()
