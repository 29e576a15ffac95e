// GOV.UK Frontend's components (error summary focus, character counts, details ...), started once.
// The pages work without this script; it only enhances them.
import { initAll } from '/static/govuk/govuk-frontend.min.js'

initAll()
