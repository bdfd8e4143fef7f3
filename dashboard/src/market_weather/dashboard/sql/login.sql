-- The login the dashboard reads the warehouse as: the health check's proof that the warehouse answers.
SELECT current_user AS login
