"""Single-user rotation function for a Trent (or AWS) Secrets Manager secret.

Written in the shape of AWS's single-user rotation templates, so that what works here works as a Lambda
function unchanged and the other way round:

  * the handler first checks that the request token is staged for this rotation (DescribeSecret's
    VersionIdsToStages lists it as AWSPENDING; AWS and Trent stage it before the first step), returns
    early when that version is already AWSCURRENT, and refuses anything else;
  * createSecret puts a new value under the token, labelled AWSPENDING, unless a retry already did;
  * setSecret changes the password in the service, logging in with the pending, current or previous
    credentials, so a retried step is harmless;
  * testSecret logs in with the pending credentials;
  * finishSecret moves AWSCURRENT onto the pending version.

The secret's value is JSON: {"username": "...", "password": "...", ...}; other fields are kept as they are.

The "service" whose password is rotated is deliberately small: a JSON password file holding one salted scrypt
hash per user (the path in PASSWORD_STORE). Replace service_login and service_set_password with calls to your
database or API; nothing else needs to change.

Run by Trent: register the script as a command rotation function; Trent runs it once per step with the
rotation event on stdin and the rotation role's credentials in the environment. Settings a Lambda function
would get as environment variables are given as NAME=VALUE arguments:

  trent secrets register-rotation-function --name rotate-kiosk --command python3 \\
      --arg examples/rotation/single_user_rotation.py --arg PASSWORD_STORE=/srv/kiosk/passwords.json \\
      --role arn:aws:iam::ACCOUNT:role/rotator
"""

import hashlib
import hmac
import json
import logging
import os
import secrets
import sys

import boto3

log = logging.getLogger("rotation")
log.setLevel(logging.INFO)

SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def lambda_handler(event, context):
    arn = event["SecretId"]
    token = event["ClientRequestToken"]
    step = event["Step"]

    client = boto3.client("secretsmanager", endpoint_url=os.environ["SECRETS_MANAGER_ENDPOINT"])

    # Only a version staged for this rotation may be worked on.
    described = client.describe_secret(SecretId=arn)
    if not described.get("RotationEnabled"):
        raise ValueError("rotation is not enabled for %s" % arn)
    stages = described.get("VersionIdsToStages", {})
    if token not in stages:
        raise ValueError("version %s of %s is not staged for rotation" % (token, arn))
    if "AWSCURRENT" in stages[token]:
        log.info("version %s of %s is already AWSCURRENT", token, arn)
        return
    if "AWSPENDING" not in stages[token]:
        raise ValueError("version %s of %s is not AWSPENDING" % (token, arn))

    steps = {
        "createSecret": create_secret,
        "setSecret": set_secret,
        "testSecret": test_secret,
        "finishSecret": finish_secret,
    }
    if step not in steps:
        raise ValueError("unknown step %s" % step)
    steps[step](client, arn, token)


def create_secret(client, arn, token):
    """Put the new credentials under the token as AWSPENDING, unless an earlier attempt already did."""
    current = secret_dict(client, arn, "AWSCURRENT")
    try:
        secret_dict(client, arn, "AWSPENDING", token)
        log.info("createSecret: version %s of %s already has its value", token, arn)
        return
    except client.exceptions.ResourceNotFoundException:
        pass
    exclude = os.environ.get("EXCLUDE_CHARACTERS", ":/@\"'\\")
    pending = dict(current)
    pending["password"] = client.get_random_password(ExcludeCharacters=exclude)["RandomPassword"]
    client.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString=json.dumps(pending), VersionStages=["AWSPENDING"])
    log.info("createSecret: put version %s of %s", token, arn)


def set_secret(client, arn, token):
    """Make the service accept the pending password, whichever credentials still log in."""
    pending = secret_dict(client, arn, "AWSPENDING", token)
    if service_login(pending):
        log.info("setSecret: the pending password of %s already works", arn)
        return
    current = secret_dict(client, arn, "AWSCURRENT")
    if current["username"] != pending["username"]:
        raise ValueError("the pending version of %s names another user" % arn)
    candidates = [current]
    try:
        candidates.append(secret_dict(client, arn, "AWSPREVIOUS"))
    except client.exceptions.ResourceNotFoundException:
        pass
    for credentials in candidates:
        if service_login(credentials):
            service_set_password(credentials, pending["password"])
            log.info("setSecret: changed the password of %s", pending["username"])
            return
    raise ValueError("setSecret: neither the current nor the previous password of %s logs in" % arn)


def test_secret(client, arn, token):
    if not service_login(secret_dict(client, arn, "AWSPENDING", token)):
        raise ValueError("testSecret: the pending password of %s does not log in" % arn)
    log.info("testSecret: the pending password of %s logs in", arn)


def finish_secret(client, arn, token):
    """Move AWSCURRENT onto the new version (Secrets Manager then keeps the old one as AWSPREVIOUS)."""
    stages = client.describe_secret(SecretId=arn).get("VersionIdsToStages", {})
    current = next((version for version, labels in stages.items() if "AWSCURRENT" in labels), None)
    if current == token:
        log.info("finishSecret: version %s of %s is already AWSCURRENT", token, arn)
        return
    client.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=token, RemoveFromVersionId=current)
    log.info("finishSecret: version %s of %s is now AWSCURRENT", token, arn)


def secret_dict(client, arn, stage, token=None):
    """The secret's JSON value at a stage (and version); ResourceNotFoundException when there is none."""
    request = {"SecretId": arn, "VersionStage": stage}
    if token:
        request["VersionId"] = token
    value = json.loads(client.get_secret_value(**request)["SecretString"])
    for field in ("username", "password"):
        if field not in value:
            raise KeyError("the secret %s has no %s field" % (arn, field))
    return value


# ---- the service whose password is rotated: replace these two with your database or API ----


def _read_store():
    with open(os.environ["PASSWORD_STORE"], encoding="utf-8") as f:
        return json.load(f)


def service_login(credentials):
    entry = _read_store().get("users", {}).get(credentials["username"])
    if entry is None:
        return False
    derived = hashlib.scrypt(credentials["password"].encode(), salt=bytes.fromhex(entry["salt"]), **SCRYPT)
    return hmac.compare_digest(derived, bytes.fromhex(entry["hash"]))


def service_set_password(credentials, new_password):
    store = _read_store()
    salt = secrets.token_bytes(16)
    derived = hashlib.scrypt(new_password.encode(), salt=salt, **SCRYPT)
    store.setdefault("users", {})[credentials["username"]] = {"salt": salt.hex(), "hash": derived.hex()}
    path = os.environ["PASSWORD_STORE"]
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(store, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


if __name__ == "__main__":
    # As a command run by Trent: the rotation event arrives on stdin, settings as NAME=VALUE arguments.
    logging.basicConfig(stream=sys.stderr, format="%(message)s")
    for argument in sys.argv[1:]:
        name, _, value = argument.partition("=")
        os.environ[name] = value
    lambda_handler(json.load(sys.stdin), None)
