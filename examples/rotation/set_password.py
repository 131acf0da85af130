"""Sets a user's password in the password file that single_user_rotation.py rotates.

This is the "service" side of the rotation example: where a real deployment has a database user whose password the
secret holds, the example has a JSON file of salted scrypt hashes. Before the first rotation the service must accept
the secret's current password, so give it the secret's value (JSON with "username" and "password") on stdin:

    aws secretsmanager get-secret-value --secret-id library/db --query SecretString --output text \\
        | python3 examples/rotation/set_password.py "$PWD/passwords.json"

The file is created if it does not exist. The hashing is single_user_rotation.py's own, so what this writes is what
the rotation function's service_login checks.
"""

import json
import os
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: set_password.py PASSWORD_FILE < secret.json")
    path = os.path.abspath(sys.argv[1])
    if not os.path.exists(path):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as f:
            json.dump({"users": {}}, f)
    os.environ["PASSWORD_STORE"] = path
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import single_user_rotation

    value = json.load(sys.stdin)
    for field in ("username", "password"):
        if field not in value:
            sys.exit("the secret's value has no %s field" % field)
    single_user_rotation.service_set_password(value, value["password"])
    print("%s: password set for %s" % (path, value["username"]))


if __name__ == "__main__":
    main()
