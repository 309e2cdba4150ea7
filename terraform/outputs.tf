output "datasets_bucket" {
  description = "Upload datasets (*.jsonl) and manifests (*.tunewire.json) here to start jobs."
  value       = google_storage_bucket.datasets.name
}

output "reports_bucket" {
  description = "Validation reports: gs://<bucket>/reports/<job id>.json."
  value       = google_storage_bucket.reports.name
}

output "function_source_bucket" {
  description = "Holds the functions' source archive."
  value       = google_storage_bucket.function_source.name
}

output "upload_command" {
  description = "An upload that starts a tuning job (run it from the repository root)."
  value       = "gcloud storage cp examples/sentiment/train.jsonl gs://${google_storage_bucket.datasets.name}/team-a/run1/train.jsonl --custom-metadata=tunewire-epochs=3,tunewire-base-model=${var.default_base_model}"
}

output "functions" {
  description = "Cloud Function name of each entry point."
  value       = { for entry_point, function in google_cloudfunctions2_function.function : entry_point => function.name }
}

output "function_uris" {
  description = "Cloud Run URI of each entry point's function (internal ingress: reachable by Pub/Sub push only)."
  value       = { for entry_point, function in google_cloudfunctions2_function.function : entry_point => function.service_config[0].uri }
}

output "topics" {
  description = "Pub/Sub topics, by the Settings field that names them."
  value       = { for field, topic in local.topics : field => google_pubsub_topic.topic[topic].name }
}

output "dead_letter_topics" {
  description = "Dead-letter topic of each topic."
  value       = { for topic, dead_letter in google_pubsub_topic.dead_letter : topic => dead_letter.name }
}

output "dead_letter_subscriptions" {
  description = "Pull subscription on each dead-letter topic: list dead letters with `gcloud pubsub subscriptions pull <name>`."
  value       = { for topic, subscription in google_pubsub_subscription.dead_letter : topic => subscription.name }
}

output "tuning_service_account" {
  description = "The Vertex AI tuning jobs run as this account; grant it read access to any other bucket a dataset references."
  value       = google_service_account.tuning.email
}

output "webhook_default_secret" {
  description = "Secret Manager secret whose latest version signs deliveries to per-upload webhook URLs."
  value       = google_secret_manager_secret.webhook_default.secret_id
}

output "cli_environment" {
  description = "Environment for the tunewire command line against this deployment (TUNEWIRE_USE_ENV=1 tunewire ...)."
  value = join(" ", [
    "TUNEWIRE_USE_ENV=1",
    "GOOGLE_CLOUD_PROJECT=${var.project_id}",
    "TUNEWIRE_REGION=${var.region}",
    "TUNEWIRE_DATASETS_BUCKET=${google_storage_bucket.datasets.name}",
    "TUNEWIRE_REPORTS_BUCKET=${google_storage_bucket.reports.name}",
  ])
}
