# The topology of infra/topology.py, the same as the local stack's: four topics, a `<topic>-dlq`
# dead-letter topic each, one push subscription per topic to the function that consumes it
# (retry policy, dead-letter policy, OIDC token), and a pull subscription `<topic>-dlq-sub` on
# each dead-letter topic to list and replay dead letters.
#
# The subscriptions are explicit rather than Eventarc triggers because an Eventarc-managed
# subscription cannot carry a dead-letter policy.

locals {
  # shared/config.py Settings.topic_* (the functions read these names from the environment).
  topics = {
    dataset_uploads = "dataset-uploads"
    tuning_requests = "tuning-requests"
    poll_ticks      = "poll-ticks"
    job_events      = "job-events"
  }
}

resource "google_pubsub_topic" "topic" {
  # checkov:skip=CKV_GCP_83:Google-managed encryption by design. Messages carry job ids, states and upload notifications (object names and metadata), never dataset content; a customer-managed key would add a key ring that can never be deleted and a KMS call per message.
  for_each = toset(values(local.topics))

  name = each.key

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "dead_letter" {
  # checkov:skip=CKV_GCP_83:Google-managed encryption by design. Messages carry job ids, states and upload notifications (object names and metadata), never dataset content; a customer-managed key would add a key ring that can never be deleted and a KMS call per message.
  for_each = toset(values(local.topics))

  name = "${each.key}-dlq"

  depends_on = [google_project_service.apis]
}

# Dead letters wait here (7 days) to be listed and replayed; created before any push
# subscription can dead-letter into the topic.
resource "google_pubsub_subscription" "dead_letter" {
  for_each = toset(values(local.topics))

  name                       = "${each.key}-dlq-sub"
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = false

  expiration_policy {
    ttl = "" # never expires, however quiet the dead-letter topic is
  }
}

# Push: the body is the standard Pub/Sub push envelope; functions-framework turns it into the
# CloudEvent the @cloud_event handlers take because the path names the topic
# (/projects/<project>/topics/<topic>). The OIDC token's audience is the function's URI.
resource "google_pubsub_subscription" "push" {
  for_each = local.functions

  name                       = "${each.value.topic}-push"
  topic                      = google_pubsub_topic.topic[each.value.topic].id
  ack_deadline_seconds       = 600 # the most Pub/Sub allows; validate_dataset may run 540 s
  message_retention_duration = "604800s"

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.function[each.key].service_config[0].uri}/projects/${var.project_id}/topics/${each.value.topic}"

    oidc_token {
      service_account_email = google_service_account.push_invoker.email
      audience              = google_cloudfunctions2_function.function[each.key].service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "${var.retry_minimum_backoff_seconds}s"
    maximum_backoff = "${var.retry_maximum_backoff_seconds}s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.value.topic].id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = "" # the default (31 days without traffic) would delete a quiet subscription
  }

  depends_on = [
    google_pubsub_subscription.dead_letter,
    google_pubsub_topic_iam_member.dead_letter_publisher,
    google_cloud_run_service_iam_member.push_invoker,
    google_service_account_iam_member.pubsub_mints_push_tokens,
  ]
}

# Dead-lettering is done by the Pub/Sub service agent: it must publish to each dead-letter topic
# and acknowledge (subscribe) on each source subscription.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = toset(values(local.topics))

  project = var.project_id
  topic   = google_pubsub_topic.dead_letter[each.key].name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent

  depends_on = [google_project_service_identity.pubsub]
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each = local.functions

  project      = var.project_id
  subscription = google_pubsub_subscription.push[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent

  depends_on = [google_project_service_identity.pubsub]
}
