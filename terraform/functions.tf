# The four Cloud Functions (2nd gen), one per entry point of functions/main.py, all built from
# one source archive. None has an event trigger: each is fed by its push subscription
# (pubsub.tf), accepts only internal traffic, and only the push-invoker service account may
# invoke it.

locals {
  # Keyed by entry point (functions/main.py). validate_dataset streams datasets of up to 1 GB
  # and counts every token: 2 vCPU, 2 GiB and the longest timeout a push can wait for.
  functions = {
    validate_dataset = {
      topic           = local.topics.dataset_uploads
      account         = "validate"
      description     = "A dataset upload becomes a validated (or invalid) job."
      memory          = "2Gi"
      cpu             = "2"
      timeout_seconds = 540
      max_instances   = 10
    }
    launch_tuning = {
      topic           = local.topics.tuning_requests
      account         = "launch"
      description     = "A validated job becomes a Vertex AI tuning job."
      memory          = "512Mi"
      cpu             = "1"
      timeout_seconds = 120
      max_instances   = 5
    }
    poll_jobs = {
      topic           = local.topics.poll_ticks
      account         = "poll"
      description     = "A poll tick records the state of every active Vertex AI tuning job."
      memory          = "512Mi"
      cpu             = "1"
      timeout_seconds = 300
      max_instances   = 1 # ticks never overlap; a tick arriving mid-poll is retried by Pub/Sub
    }
    notify = {
      topic           = local.topics.job_events
      account         = "notify"
      description     = "A job event becomes signed webhook deliveries."
      memory          = "512Mi"
      cpu             = "0.333"
      timeout_seconds = 120
      max_instances   = 10
    }
  }

  # shared/config.py Settings.env_names(): every variable the code reads, set explicitly on
  # every function (a test checks both directions).
  function_environment = {
    GOOGLE_CLOUD_PROJECT               = var.project_id
    TUNEWIRE_REGION                    = var.region
    TUNEWIRE_VERTEX_ENDPOINT           = "https://${var.region}-aiplatform.googleapis.com"
    TUNEWIRE_DATASETS_BUCKET           = google_storage_bucket.datasets.name
    TUNEWIRE_REPORTS_BUCKET            = google_storage_bucket.reports.name
    TUNEWIRE_JOBS_COLLECTION           = local.collections.jobs
    TUNEWIRE_ENDPOINTS_COLLECTION      = local.collections.endpoints
    TUNEWIRE_DELIVERIES_COLLECTION     = local.collections.deliveries
    TUNEWIRE_TOPIC_DATASET_UPLOADS     = google_pubsub_topic.topic[local.topics.dataset_uploads].name
    TUNEWIRE_TOPIC_TUNING_REQUESTS     = google_pubsub_topic.topic[local.topics.tuning_requests].name
    TUNEWIRE_TOPIC_POLL_TICKS          = google_pubsub_topic.topic[local.topics.poll_ticks].name
    TUNEWIRE_TOPIC_JOB_EVENTS          = google_pubsub_topic.topic[local.topics.job_events].name
    TUNEWIRE_DEFAULT_BASE_MODEL        = var.default_base_model
    TUNEWIRE_DEFAULT_EPOCHS            = tostring(var.default_epochs)
    TUNEWIRE_DEFAULT_ADAPTER_SIZE      = tostring(var.default_adapter_size)
    TUNEWIRE_ALLOW_DISCONTINUED_MODELS = tostring(var.allow_discontinued_models)
    TUNEWIRE_TUNING_SERVICE_ACCOUNT    = google_service_account.tuning.email
    TUNEWIRE_LOCAL                     = "false"
    TUNEWIRE_WEBHOOK_ALLOWED_HOSTS     = join(",", var.allowed_webhook_hosts)
    TUNEWIRE_WEBHOOK_SECRETS_FILE      = "" # empty: signing secrets come from Secret Manager
    TUNEWIRE_WEBHOOK_SECRET_PREFIX     = local.webhook_key_prefix
    TUNEWIRE_WEBHOOK_TIMEOUT_S         = tostring(var.webhook_timeout_seconds)
    TUNEWIRE_MAX_EVENT_AGE_S           = tostring(var.max_event_age_seconds)
    TUNEWIRE_POLL_CONCURRENCY          = tostring(var.poll_concurrency)
    TUNEWIRE_VERTEX_TIMEOUT_S          = tostring(var.vertex_timeout_seconds)
    TUNEWIRE_RECONCILE_AFTER_S         = tostring(var.reconcile_after_seconds)
    TUNEWIRE_VALIDATION_STALE_S        = tostring(var.validation_stale_seconds)
    TUNEWIRE_MAX_VALIDATION_ATTEMPTS   = tostring(var.max_validation_attempts)
    TUNEWIRE_PENDING_ALERT_S           = tostring(var.pending_alert_seconds)
  }

  # Staged by `make function-source` (scripts/function_requirements.py --stage).
  function_source_dir = "${path.module}/build/function-source"
}

# One archive for all four functions: functions/, shared/ (with the tokenizer model), the main.py
# shim that re-exports the entry points, and requirements.txt (pyproject's runtime dependencies).
data "archive_file" "function_source" {
  type             = "zip"
  source_dir       = local.function_source_dir
  output_path      = "${path.module}/build/function-source.zip"
  output_file_mode = "0644" # the same archive, byte for byte, from any checkout
  excludes         = ["**/__pycache__/**", "**/*.pyc"]

  lifecycle {
    precondition {
      condition = alltrue([
        fileexists("${local.function_source_dir}/main.py"),
        fileexists("${local.function_source_dir}/requirements.txt"),
        fileexists("${local.function_source_dir}/shared/tokens/data/gemma3.spm.model"),
      ])
      error_message = "The function source is not staged: run `make function-source` in the repository root first."
    }
  }
}

resource "google_storage_bucket_object" "function_source" {
  # A new name for every change of the archive, so a code change redeploys the functions.
  name   = "function-source-${data.archive_file.function_source.output_md5}.zip"
  bucket = google_storage_bucket.function_source.name
  source = data.archive_file.function_source.output_path
}

# Build images land in this repository, which only the build service account may write to.
resource "google_artifact_registry_repository" "functions" {
  # checkov:skip=CKV_GCP_84:Google-managed encryption by design. The images hold only this repository's open code and public packages, rebuilt on every deploy.
  repository_id = "${var.name_prefix}-functions"
  location      = var.region
  format        = "DOCKER"
  description   = "Images of the tunewire Cloud Functions."

  cleanup_policy_dry_run = false

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"

    most_recent_versions {
      keep_count = 5
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"

    condition {
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_cloudfunctions2_function" "function" {
  for_each = local.functions

  name        = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  location    = var.region
  description = each.value.description

  build_config {
    runtime           = "python311"
    entry_point       = each.key
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.function_source.name
        object = google_storage_bucket_object.function_source.name
      }
    }
  }

  service_config {
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    timeout_seconds                  = each.value.timeout_seconds
    min_instance_count               = 0
    max_instance_count               = each.value.max_instances
    max_instance_request_concurrency = 1
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.function[each.key].email
    environment_variables            = local.function_environment
  }

  depends_on = [
    google_project_service.apis,
    google_project_iam_member.build_log_writer,
    google_project_iam_member.build_uses_staged_source,
    google_artifact_registry_repository_iam_member.build_writer,
    google_storage_bucket_iam_member.build_reads_source,
  ]
}
