# Inputs. Lists that mirror shared/model_catalog.py are checked against it by
# tests/unit/test_terraform_structure.py, so the two cannot drift apart.

locals {
  # shared/model_catalog.py GEMINI_TUNING_REGIONS: where Vertex AI runs Gemini tuning jobs.
  gemini_tuning_regions = [
    "us-central1", "us-east1", "us-east4", "us-east5", "us-south1", "us-west1", "us-west4",
    "northamerica-northeast1", "southamerica-east1",
    "europe-west1", "europe-west2", "europe-west3", "europe-west4", "europe-west6",
    "europe-west8", "europe-west9", "europe-north1", "europe-central2", "europe-southwest1",
    "asia-east1", "asia-east2", "asia-northeast1", "asia-northeast3", "asia-south1",
    "asia-southeast1", "australia-southeast1", "me-central1", "me-west1",
  ]

  # shared/model_catalog.py: every known base model that is not discontinued.
  tunable_base_models = [
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-3.1-flash-lite",
    "gemma-3-270m",
  ]

  labels = merge(var.labels, { app = "tunewire" })
}

variable "project_id" {
  description = "Google Cloud project to deploy into (billing enabled)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project ID: 6 to 30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  description = "Region of the functions, buckets, topics' consumers and the Vertex AI tuning jobs."
  type        = string
  default     = "us-central1"

  validation {
    condition     = contains(local.gemini_tuning_regions, var.region)
    error_message = "region must be a region where Vertex AI runs Gemini supervised tuning (shared/model_catalog.py GEMINI_TUNING_REGIONS)."
  }
}

variable "name_prefix" {
  description = "Short prefix of every resource name (buckets, functions, service accounts)."
  type        = string
  default     = "tunewire"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,8}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2 to 10 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen."
  }
}

variable "poll_interval_minutes" {
  description = "Minutes between two poll ticks (Cloud Scheduler → poll-ticks → poll_jobs)."
  type        = number
  default     = 5

  validation {
    condition     = var.poll_interval_minutes >= 1 && var.poll_interval_minutes <= 30 && floor(var.poll_interval_minutes) == var.poll_interval_minutes
    error_message = "poll_interval_minutes must be a whole number from 1 to 30."
  }
}

variable "default_base_model" {
  description = "Base model of uploads that name none (TUNEWIRE_DEFAULT_BASE_MODEL)."
  type        = string
  default     = "gemini-2.5-flash"

  validation {
    condition     = contains(local.tunable_base_models, var.default_base_model)
    error_message = "default_base_model must be a base model tunewire knows and that is not discontinued (shared/model_catalog.py)."
  }
}

variable "default_epochs" {
  description = "Epochs of uploads that name none; 0 leaves the choice to Vertex AI (TUNEWIRE_DEFAULT_EPOCHS)."
  type        = number
  default     = 0

  validation {
    condition     = var.default_epochs >= 0 && var.default_epochs <= 100 && floor(var.default_epochs) == var.default_epochs
    error_message = "default_epochs must be a whole number from 0 (service default) to 100."
  }
}

variable "default_adapter_size" {
  description = "Adapter size of uploads that name none; 0 leaves the choice to Vertex AI (TUNEWIRE_DEFAULT_ADAPTER_SIZE)."
  type        = number
  default     = 0

  validation {
    condition     = contains([0, 1, 2, 4, 8, 16, 32], var.default_adapter_size)
    error_message = "default_adapter_size must be 0 (service default) or one of 1, 2, 4, 8, 16, 32."
  }
}

variable "allow_discontinued_models" {
  description = "Warn instead of refusing uploads that name a discontinued model (TUNEWIRE_ALLOW_DISCONTINUED_MODELS)."
  type        = bool
  default     = false
}

variable "reports_retention_days" {
  description = "Days a validation report is kept in the reports bucket."
  type        = number
  default     = 90

  validation {
    condition     = var.reports_retention_days >= 1 && var.reports_retention_days <= 3650 && floor(var.reports_retention_days) == var.reports_retention_days
    error_message = "reports_retention_days must be a whole number from 1 to 3650."
  }
}

variable "noncurrent_version_retention_days" {
  description = "Days an overwritten or deleted object version is kept in the versioned buckets."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_retention_days >= 1 && var.noncurrent_version_retention_days <= 3650 && floor(var.noncurrent_version_retention_days) == var.noncurrent_version_retention_days
    error_message = "noncurrent_version_retention_days must be a whole number from 1 to 3650."
  }
}

variable "firestore_location" {
  description = "Location of the Firestore (default) database: a multi-region (nam5, eur3) or a region. Cannot change after creation."
  type        = string
  default     = "nam5"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[0-9]$", var.firestore_location))
    error_message = "firestore_location must be a Firestore location such as nam5, eur3 or us-central1."
  }
}

variable "allowed_webhook_hosts" {
  description = "Hosts webhooks may be delivered to (exact names or *.suffix); empty allows any public host (TUNEWIRE_WEBHOOK_ALLOWED_HOSTS)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for host in var.allowed_webhook_hosts : can(regex("^(\\*\\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$", host))])
    error_message = "allowed_webhook_hosts holds lowercase host names, optionally starting with \"*.\" (for example hooks.example.com or *.corp.example)."
  }
}

variable "max_delivery_attempts" {
  description = "Deliveries of one Pub/Sub message before it moves to the topic's -dlq dead-letter topic."
  type        = number
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100 && floor(var.max_delivery_attempts) == var.max_delivery_attempts
    error_message = "max_delivery_attempts must be a whole number from 5 to 100 (the Pub/Sub limits)."
  }
}

variable "retry_minimum_backoff_seconds" {
  description = "Shortest wait before Pub/Sub redelivers a message a function failed."
  type        = number
  default     = 10

  validation {
    condition     = var.retry_minimum_backoff_seconds >= 0 && var.retry_minimum_backoff_seconds <= 600
    error_message = "retry_minimum_backoff_seconds must be from 0 to 600."
  }
}

variable "retry_maximum_backoff_seconds" {
  description = "Longest wait before Pub/Sub redelivers a message a function failed."
  type        = number
  default     = 600

  validation {
    condition     = var.retry_maximum_backoff_seconds >= 0 && var.retry_maximum_backoff_seconds <= 600
    error_message = "retry_maximum_backoff_seconds must be from 0 to 600."
  }
}

variable "max_event_age_seconds" {
  description = "Events older than this are acknowledged with a logged reason instead of retried (TUNEWIRE_MAX_EVENT_AGE_S)."
  type        = number
  default     = 86400

  validation {
    condition     = var.max_event_age_seconds >= 600
    error_message = "max_event_age_seconds must be at least 600."
  }
}

variable "poll_concurrency" {
  description = "Vertex AI reads in parallel per poll tick (TUNEWIRE_POLL_CONCURRENCY)."
  type        = number
  default     = 8

  validation {
    condition     = var.poll_concurrency >= 1 && var.poll_concurrency <= 64 && floor(var.poll_concurrency) == var.poll_concurrency
    error_message = "poll_concurrency must be a whole number from 1 to 64."
  }
}

variable "vertex_timeout_seconds" {
  description = "Timeout of every Vertex AI call (TUNEWIRE_VERTEX_TIMEOUT_S)."
  type        = number
  default     = 30

  validation {
    condition     = var.vertex_timeout_seconds > 0 && var.vertex_timeout_seconds <= 50
    error_message = "vertex_timeout_seconds must be above 0 and at most 50 (launch_tuning's 120 s timeout must hold a find and a create)."
  }
}

variable "webhook_timeout_seconds" {
  description = "Timeout of one webhook delivery attempt (TUNEWIRE_WEBHOOK_TIMEOUT_S); a slower receiver is retried by Pub/Sub."
  type        = number
  default     = 10

  validation {
    condition     = var.webhook_timeout_seconds > 0 && var.webhook_timeout_seconds <= 60
    error_message = "webhook_timeout_seconds must be above 0 and at most 60."
  }
}

variable "reconcile_after_seconds" {
  description = "A state event notify never received, or a VALIDATED job untouched this long, is re-driven by the poll tick (TUNEWIRE_RECONCILE_AFTER_S)."
  type        = number
  default     = 120

  validation {
    condition     = var.reconcile_after_seconds >= 30
    error_message = "reconcile_after_seconds must be at least 30 (shorter re-drives messages still in flight)."
  }
}

variable "validation_stale_seconds" {
  description = "A RECEIVED or VALIDATING job untouched this long gets its upload re-driven (TUNEWIRE_VALIDATION_STALE_S); longer than validate_dataset's timeout."
  type        = number
  default     = 1200

  validation {
    condition     = var.validation_stale_seconds > 540
    error_message = "validation_stale_seconds must exceed validate_dataset's 540 s timeout."
  }
}

variable "max_validation_attempts" {
  description = "Validation starts allowed for one upload before it ends INVALID with VALIDATION_DID_NOT_FINISH (TUNEWIRE_MAX_VALIDATION_ATTEMPTS)."
  type        = number
  default     = 3

  validation {
    condition     = var.max_validation_attempts >= 1 && floor(var.max_validation_attempts) == var.max_validation_attempts
    error_message = "max_validation_attempts must be a whole number of at least 1."
  }
}

variable "pending_alert_seconds" {
  description = "A job PENDING on Vertex AI longer than this is reported as stuck (TUNEWIRE_PENDING_ALERT_S)."
  type        = number
  default     = 3600

  validation {
    condition     = var.pending_alert_seconds >= 60
    error_message = "pending_alert_seconds must be at least 60."
  }
}

variable "media_buckets" {
  description = "Other buckets holding media that datasets reference (gs:// fileData): the validator and the tuning jobs get read access to them."
  type        = list(string)
  default     = []
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete non-empty buckets and the Firestore database. Keep false for anything that holds real data."
  type        = bool
  default     = false
}

variable "labels" {
  description = "Labels added to every resource that takes labels (app = \"tunewire\" is always set)."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for key, value in var.labels :
      can(regex("^[a-z][a-z0-9_-]{0,62}$", key)) && can(regex("^[a-z0-9_-]{0,63}$", value))
    ])
    error_message = "Label keys are 1 to 63 lowercase letters, digits, _ or - starting with a letter; values up to 63 of the same."
  }
}
