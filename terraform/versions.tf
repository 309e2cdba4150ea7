# Terraform and provider versions. `terraform init` writes .terraform.lock.hcl with the exact
# provider builds it picked: commit that file so every apply uses the same ones.
terraform {
  required_version = ">= 1.9.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.14.0, < 8.0.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 6.14.0, < 8.0.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4.0, < 3.0.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.6.0, < 4.0.0"
    }
  }
}

provider "google" {
  project        = var.project_id
  region         = var.region
  default_labels = local.labels
}

# google-beta is used only where a resource exists in beta alone (the Pub/Sub service identity).
provider "google-beta" {
  project        = var.project_id
  region         = var.region
  default_labels = local.labels
}
