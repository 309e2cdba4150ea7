# Service accounts and their grants: one account per function, each with the narrowest role on
# the narrowest resource the code needs; no primitive role (owner, editor, viewer) anywhere.
#
# roles/datastore.user is granted on the project: Firestore has no narrower predefined role
# (IAM grants on a single database or collection do not exist for it).

resource "google_service_account" "function" {
  for_each = local.functions

  account_id   = "${var.name_prefix}-${each.value.account}"
  display_name = "tunewire ${each.key} function"
  description  = "Runs the ${each.key} Cloud Function."

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "tuning" {
  account_id   = "${var.name_prefix}-tuning"
  display_name = "tunewire tuning jobs"
  description  = "The Vertex AI tuning jobs run as this account: it reads the training and validation datasets."

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "push_invoker" {
  account_id   = "${var.name_prefix}-push"
  display_name = "tunewire Pub/Sub push"
  description  = "Identity of the push subscriptions' OIDC tokens: may invoke the four functions and nothing else."

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "scheduler" {
  account_id   = "${var.name_prefix}-scheduler"
  display_name = "tunewire poll scheduler"
  description  = "Cloud Scheduler publishes poll ticks as this account."

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "build" {
  account_id   = "${var.name_prefix}-build"
  display_name = "tunewire function builds"
  description  = "Cloud Build builds the function images as this account."

  depends_on = [google_project_service.apis]
}

locals {
  function_members = { for name, account in google_service_account.function : name => account.member }
}

# ------------------------------------------------------------------------- validate_dataset

resource "google_storage_bucket_iam_member" "validate_reads_datasets" {
  bucket = google_storage_bucket.datasets.name
  role   = "roles/storage.objectViewer"
  member = local.function_members.validate_dataset
}

# Writes reports/<job id>.json. objectUser rather than objectCreator: a redelivered upload
# whose first attempt died after writing the report writes it again, and overwriting an object
# needs storage.objects.delete, which objectCreator lacks.
resource "google_storage_bucket_iam_member" "validate_writes_reports" {
  bucket = google_storage_bucket.reports.name
  role   = "roles/storage.objectUser"
  member = local.function_members.validate_dataset
}

resource "google_storage_bucket_iam_member" "validate_reads_media" {
  for_each = toset(var.media_buckets)

  bucket = each.value
  role   = "roles/storage.objectViewer"
  member = local.function_members.validate_dataset
}

resource "google_pubsub_topic_iam_member" "validate_publishes_tuning_requests" {
  project = var.project_id
  topic   = google_pubsub_topic.topic[local.topics.tuning_requests].name
  role    = "roles/pubsub.publisher"
  member  = local.function_members.validate_dataset
}

resource "google_pubsub_topic_iam_member" "validate_publishes_job_events" {
  project = var.project_id
  topic   = google_pubsub_topic.topic[local.topics.job_events].name
  role    = "roles/pubsub.publisher"
  member  = local.function_members.validate_dataset
}

# ---------------------------------------------------------------------------- launch_tuning

resource "google_pubsub_topic_iam_member" "launch_publishes_job_events" {
  project = var.project_id
  topic   = google_pubsub_topic.topic[local.topics.job_events].name
  role    = "roles/pubsub.publisher"
  member  = local.function_members.launch_tuning
}

# Creating a tuning job that runs as the tuning account needs actAs on that account only.
resource "google_service_account_iam_member" "launch_acts_as_tuning" {
  service_account_id = google_service_account.tuning.name
  role               = "roles/iam.serviceAccountUser"
  member             = local.function_members.launch_tuning
}

# The tuning job reads the datasets as the tuning account; Vertex AI also lists read access to
# the training data among the permissions of the caller that creates a tuning job.
resource "google_storage_bucket_iam_member" "launch_reads_datasets" {
  bucket = google_storage_bucket.datasets.name
  role   = "roles/storage.objectViewer"
  member = local.function_members.launch_tuning
}

# ------------------------------------------------------------------------------- poll_jobs

resource "google_pubsub_topic_iam_member" "poll_publishes_job_events" {
  project = var.project_id
  topic   = google_pubsub_topic.topic[local.topics.job_events].name
  role    = "roles/pubsub.publisher"
  member  = local.function_members.poll_jobs
}

# Jobs that waited for quota get their launch requested again.
resource "google_pubsub_topic_iam_member" "poll_publishes_tuning_requests" {
  project = var.project_id
  topic   = google_pubsub_topic.topic[local.topics.tuning_requests].name
  role    = "roles/pubsub.publisher"
  member  = local.function_members.poll_jobs
}

# ---------------------------------------------------------- Vertex AI and Firestore (project)

# Vertex AI tuning jobs have no resource-level IAM: aiplatform.user on the project is the
# narrowest grant that creates, reads and cancels them.
resource "google_project_iam_member" "vertex_user" {
  for_each = toset(["launch_tuning", "poll_jobs"])

  project = var.project_id
  role    = "roles/aiplatform.user"
  member  = local.function_members[each.key]
}

resource "google_project_iam_member" "firestore_user" {
  for_each = local.functions

  project = var.project_id
  role    = "roles/datastore.user"
  member  = local.function_members[each.key]
}

# ----------------------------------------------------------------------------------- notify

# Reads the webhook signing secrets: the default one (secrets.tf) and the per-endpoint ones
# `tunewire webhooks add` creates later, so the grant is conditioned on the secret name prefix.
# Secret resource names carry the project number; the project ID form is accepted as well.
resource "google_project_iam_member" "notify_reads_webhook_secrets" {
  project = var.project_id
  role    = "roles/secretmanager.secretAccessor"
  member  = local.function_members.notify

  condition {
    title       = "tunewire webhook secrets only"
    description = "Secrets named ${local.webhook_key_prefix}*"
    expression  = "resource.name.startsWith(\"projects/${data.google_project.project.number}/secrets/${local.webhook_key_prefix}\") || resource.name.startsWith(\"projects/${var.project_id}/secrets/${local.webhook_key_prefix}\")"
  }
}

# --------------------------------------------------------------------------- tuning account

resource "google_storage_bucket_iam_member" "tuning_reads_datasets" {
  bucket = google_storage_bucket.datasets.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.tuning.member
}

resource "google_storage_bucket_iam_member" "tuning_reads_media" {
  for_each = toset(var.media_buckets)

  bucket = each.value
  role   = "roles/storage.objectViewer"
  member = google_service_account.tuning.member
}

# ----------------------------------------------------------------------------- push invoker

# The push subscriptions' identity may invoke the four functions' Cloud Run services, nothing else.
resource "google_cloud_run_service_iam_member" "push_invoker" {
  for_each = local.functions

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.function[each.key].name
  role     = "roles/run.invoker"
  member   = google_service_account.push_invoker.member
}

# Pub/Sub mints the OIDC tokens of the push subscriptions as the push-invoker account (needed
# on projects created before April 2021; harmless elsewhere).
resource "google_service_account_iam_member" "pubsub_mints_push_tokens" {
  service_account_id = google_service_account.push_invoker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent

  depends_on = [google_project_service_identity.pubsub]
}

# -------------------------------------------------------------------------------- scheduler

resource "google_pubsub_topic_iam_member" "scheduler_publishes_poll_ticks" {
  project = var.project_id
  topic   = google_pubsub_topic.topic[local.topics.poll_ticks].name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.scheduler.member
}

# ------------------------------------------------------------------------------------ build

resource "google_project_iam_member" "build_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

resource "google_artifact_registry_repository_iam_member" "build_writer" {
  project    = var.project_id
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

resource "google_storage_bucket_iam_member" "build_reads_source" {
  bucket = google_storage_bucket.function_source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}

# Cloud Functions copies the source into its own staging buckets (gcf-v2-sources-*, and
# gcf-v2-uploads-* for uploads) before the build reads it; Google documents Storage Object Admin
# for the build account. It is granted on those buckets only, by an IAM condition, because the
# service creates them on the first deploy.
resource "google_project_iam_member" "build_uses_staged_source" {
  project = var.project_id
  role    = "roles/storage.objectAdmin"
  member  = google_service_account.build.member

  condition {
    title       = "Cloud Functions staging buckets only"
    description = "gcf-v2-sources-* and gcf-v2-uploads-* of this project and region"
    expression  = "resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-${data.google_project.project.number}-${var.region}\") || resource.name.startsWith(\"projects/_/buckets/gcf-v2-uploads-${data.google_project.project.number}-${var.region}\")"
  }
}
