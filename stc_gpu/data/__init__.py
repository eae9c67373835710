"""Reading datasets: streaming text readers with validation, label columns, splits."""
