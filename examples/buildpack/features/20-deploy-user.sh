# A user the applications' artifacts belong to.
useradd --system --create-home --uid 990 deploy
