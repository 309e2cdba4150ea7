# The deployment's webhook signing key: deliveries to per-upload webhook URLs (object metadata
# `tunewire-webhook`) are signed with it. Per-endpoint secrets (`tunewire webhooks add`) are
# created later by the command line under the same name prefix.

locals {
  # Secret Manager name prefix of the webhook signing keys: shared/config.py
  # Settings.webhook_secret_prefix (the default secret is DEFAULT_SECRET_ID, shared/webhooks/registry.py).
  webhook_key_prefix = "tunewire-webhook-"
}

resource "google_secret_manager_secret" "webhook_default" {
  secret_id = "${local.webhook_key_prefix}default"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

# 32 random bytes, as shared/webhooks/signing.py generate_secret makes them. The value is kept in
# the Terraform state: keep the state in a bucket only the deployers can read.
resource "random_id" "webhook_default" {
  byte_length = 32
}

# The payload is what SecretManagerStore reads: a JSON list of live secrets, newest first.
resource "google_secret_manager_secret_version" "webhook_default" {
  secret      = google_secret_manager_secret.webhook_default.id
  secret_data = jsonencode(["whsec_${random_id.webhook_default.b64_std}"])

  lifecycle {
    # A rotation by the command line adds a version and disables this one; leave that alone.
    ignore_changes = [enabled]
  }
}
