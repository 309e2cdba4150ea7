# The Firestore (native mode) database tunewire keeps jobs, webhook endpoints and deliveries in,
# and the composite indexes its queries need: exactly shared/jobs/indexes.py COMPOSITE_INDEXES.

locals {
  # shared/config.py Settings.*_collection.
  collections = {
    jobs       = "jobs"
    endpoints  = "webhook_endpoints"
    deliveries = "webhook_deliveries"
  }

  # shared/jobs/indexes.py COMPOSITE_INDEXES (a test checks both directions).
  composite_indexes = {
    jobs_state_updated_at = {
      collection = local.collections.jobs
      fields = [
        { field_path = "state", order = "ASCENDING" },
        { field_path = "updated_at", order = "DESCENDING" },
      ]
    }
  }
}

resource "google_firestore_database" "database" {
  project                     = var.project_id
  name                        = "(default)"
  location_id                 = var.firestore_location
  type                        = "FIRESTORE_NATIVE"
  app_engine_integration_mode = "DISABLED"

  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = var.force_destroy ? "DELETE_PROTECTION_DISABLED" : "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = var.force_destroy ? "DELETE" : "ABANDON"

  depends_on = [google_project_service.apis]
}

resource "google_firestore_index" "composite" {
  for_each = local.composite_indexes

  project     = var.project_id
  database    = google_firestore_database.database.name
  collection  = each.value.collection
  query_scope = "COLLECTION"

  dynamic "fields" {
    for_each = each.value.fields

    content {
      field_path = fields.value.field_path
      order      = fields.value.order
    }
  }
}
