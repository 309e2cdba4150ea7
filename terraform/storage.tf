# Buckets: uploaded datasets (their notifications start the pipeline), validation reports, and the
# functions' source archive. All private: uniform bucket-level access, public access prevention.

locals {
  bucket_prefix = "${var.project_id}-${var.name_prefix}"
}

resource "google_storage_bucket" "datasets" {
  # checkov:skip=CKV_GCP_62:Access is audited with Cloud Audit Logs (Data Access logs for storage.googleapis.com, docs/deploy.md), which Google recommends over legacy usage logs; usage logs would need one more bucket that could not log itself.
  name                        = "${local.bucket_prefix}-datasets"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy

  # A job names its upload by generation; versioning keeps an overwritten dataset readable.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_retention_days
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket" "reports" {
  # checkov:skip=CKV_GCP_62:Access is audited with Cloud Audit Logs (Data Access logs for storage.googleapis.com, docs/deploy.md), which Google recommends over legacy usage logs; usage logs would need one more bucket that could not log itself.
  name                        = "${local.bucket_prefix}-reports"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = var.reports_retention_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_retention_days
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket" "function_source" {
  # checkov:skip=CKV_GCP_62:Access is audited with Cloud Audit Logs (Data Access logs for storage.googleapis.com, docs/deploy.md), which Google recommends over legacy usage logs; usage logs would need one more bucket that could not log itself.
  name                        = "${local.bucket_prefix}-function-source"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true # holds only archives Terraform rebuilds from the repository

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_retention_days
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

# Every finished upload to the datasets bucket → a JSON_API_V1 message on dataset-uploads.
data "google_storage_project_service_account" "gcs" {
  project = var.project_id

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic_iam_member" "gcs_publishes_uploads" {
  project = var.project_id
  topic   = google_pubsub_topic.topic[local.topics.dataset_uploads].name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

resource "google_storage_notification" "dataset_uploads" {
  bucket         = google_storage_bucket.datasets.name
  payload_format = "JSON_API_V1"
  topic          = google_pubsub_topic.topic[local.topics.dataset_uploads].id
  event_types    = ["OBJECT_FINALIZE"]

  depends_on = [google_pubsub_topic_iam_member.gcs_publishes_uploads]
}
