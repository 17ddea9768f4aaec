"""A trainee's own pages composed over the domains below: "My training" shows
enrolments (enrolment), attendance progress (attendance) and certificates
(certificates) together, so none of those needs to import the others."""
