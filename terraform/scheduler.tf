# Every poll_interval_minutes a poll tick is published to poll-ticks (→ poll_jobs). The job calls
# the Pub/Sub publish API with the scheduler account's token, so that account's single grant
# (publisher on poll-ticks) is all it takes; a Pub/Sub target would publish as the Cloud
# Scheduler service agent instead.

locals {
  poll_tick = jsonencode({ type = "poll.tick", job_id = "scheduler" })
}

resource "google_cloud_scheduler_job" "poll_tick" {
  name             = "${var.name_prefix}-poll-tick"
  description      = "Publishes a poll tick to ${local.topics.poll_ticks}."
  region           = var.region
  schedule         = "*/${var.poll_interval_minutes} * * * *"
  time_zone        = "Etc/UTC"
  attempt_deadline = "30s"

  retry_config {
    retry_count = 0 # the next tick comes soon enough
  }

  http_target {
    http_method = "POST"
    uri         = "https://pubsub.googleapis.com/v1/${google_pubsub_topic.topic[local.topics.poll_ticks].id}:publish"
    headers = {
      "Content-Type" = "application/json"
    }
    body = base64encode(jsonencode({ messages = [{ data = base64encode(local.poll_tick) }] }))

    oauth_token {
      service_account_email = google_service_account.scheduler.email
      scope                 = "https://www.googleapis.com/auth/pubsub"
    }
  }

  depends_on = [google_pubsub_topic_iam_member.scheduler_publishes_poll_ticks]
}
